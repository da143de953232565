/// An address to accept client connections on: a numeric address or a name the I/O layer resolves.
/// Equal when they say the same thing, wherever they are written.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    /// `listen ADDR ssl;`: clients speak TLS here (the top-level `ssl_*` directives).
    public var ssl: Bool
    /// Where the address is written, for errors found when it is resolved or bound.
    public var location: SourceLocation

    public init(host: String, port: UInt16, ssl: Bool = false, location: SourceLocation = .none) {
        self.host = host
        self.port = port
        self.ssl = ssl
        self.location = location
    }

    public static func == (a: ListenAddress, b: ListenAddress) -> Bool { a.host == b.host && a.port == b.port && a.ssl == b.ssl }
}

/// One backend of an upstream group, with its load-balancing and passive health-check knobs.
/// `host` may be a name: every address it resolves to becomes a server with these knobs.
/// Equal when they say the same thing, wherever they are written.
public struct UpstreamServer: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    public var weight: Int
    public var maxFails: Int
    public var failTimeoutMs: Int64
    /// Spoken to over TLS (`server ... tls;`, or `tls on;` in its block), as its `UpstreamConfig.tls` says.
    public var tls: Bool
    /// Where the address is written, for errors found when it is resolved.
    public var location: SourceLocation

    public init(host: String, port: UInt16, weight: Int = 1, maxFails: Int = 1, failTimeoutMs: Int64 = 10_000,
                tls: Bool = false, location: SourceLocation = .none) {
        self.host = host
        self.port = port
        self.weight = weight
        self.maxFails = maxFails
        self.failTimeoutMs = failTimeoutMs
        self.tls = tls
        self.location = location
    }

    public static func == (a: UpstreamServer, b: UpstreamServer) -> Bool {
        a.host == b.host && a.port == b.port && a.weight == b.weight && a.maxFails == b.maxFails && a.failTimeoutMs == b.failTimeoutMs
            && a.tls == b.tls
    }
}

/// A named group of backends and how the gateway talks to them.
public struct UpstreamConfig: Sendable {
    public var name: String
    public var servers: [UpstreamServer]
    public var connectTimeoutMs: Int64
    /// Time to the response head, and between two reads of the body.
    public var responseTimeoutMs: Int64
    /// Idle pooled connections kept per server per worker; 0 disables pooling.
    public var keepalive: Int
    public var keepaliveTimeoutMs: Int64
    public var maxResponseHeaderSize: Int
    /// Active checks (`health_check`); nil: off, only passive health applies.
    public var healthCheck: HealthCheckConfig?
    /// How servers marked `tls` are spoken to.
    public var tls = UpstreamTLSConfig()

    public init(
        name: String, servers: [UpstreamServer] = [], connectTimeoutMs: Int64 = 2_000, responseTimeoutMs: Int64 = 30_000,
        keepalive: Int = 64, keepaliveTimeoutMs: Int64 = 60_000, maxResponseHeaderSize: Int = 32 << 10
    ) {
        self.name = name
        self.servers = servers
        self.connectTimeoutMs = connectTimeoutMs
        self.responseTimeoutMs = responseTimeoutMs
        self.keepalive = keepalive
        self.keepaliveTimeoutMs = keepaliveTimeoutMs
        self.maxResponseHeaderSize = maxResponseHeaderSize
    }
}

/// Whether upstream error bodies are rewritten into the gateway's error format or relayed as-is.
public enum ErrorRewriteMode: Sendable, Equatable { case rewrite, passthrough }

/// A path prefix and where its requests go.
public struct RouteConfig: Sendable {
    public var prefix: String
    public var upstream: String
    /// nil accepts any method.
    public var methods: [String]?
    public var maxBody: Int64
    public var errors: ErrorRewriteMode
    public var idempotency = RouteIdempotency()
    public var auth: RouteAuth
    /// Scopes a key needs here, and the same as a mask over `AccessConfig.scopeNames`.
    public var scopes: [String]
    public var scopeMask: UInt64
    /// A per-key bucket for this route, stacked with the key's own.
    public var rate: TokenRate?
    public var quota: QuotaCounting
    /// Protocols (lower-case) a client may switch to with `Upgrade`; empty: none, the field is dropped.
    public var upgrades: [String] = []

    public init(
        prefix: String, upstream: String, methods: [String]? = nil, maxBody: Int64 = 1 << 20,
        errors: ErrorRewriteMode = .rewrite, auth: RouteAuth = .public, scopes: [String] = [], scopeMask: UInt64 = 0,
        rate: TokenRate? = nil, quota: QuotaCounting = .off
    ) {
        self.prefix = prefix
        self.upstream = upstream
        self.methods = methods
        self.maxBody = maxBody
        self.errors = errors
        self.auth = auth
        self.scopes = scopes
        self.scopeMask = scopeMask
        self.rate = rate
        self.quota = quota
    }
}

/// Spelling of error codes in gateway-generated bodies: `session_disconnected` or `SESSION_DISCONNECTED`.
public enum ErrorVocabulary: String, Sendable { case snake, upper }

/// Maps an upstream error code to the code and status the gateway reports instead.
public struct ErrorCodeOverride: Sendable, Equatable {
    public var upstreamCode: String
    public var code: String
    public var status: Int

    public init(upstreamCode: String, code: String, status: Int) {
        self.upstreamCode = upstreamCode
        self.code = code
        self.status = status
    }
}

public struct ErrorsConfig: Sendable {
    public var vocabulary: ErrorVocabulary
    public var retryAfterDefaultSeconds: Int
    public var rewriteBufferSize: Int
    public var overrides: [ErrorCodeOverride]

    public init(
        vocabulary: ErrorVocabulary = .snake, retryAfterDefaultSeconds: Int = 5, rewriteBufferSize: Int = 64 << 10,
        overrides: [ErrorCodeOverride] = []
    ) {
        self.vocabulary = vocabulary
        self.retryAfterDefaultSeconds = retryAfterDefaultSeconds
        self.rewriteBufferSize = rewriteBufferSize
        self.overrides = overrides
    }
}

/// Limits that protect the gateway from slow or oversized clients.
public struct ClientLimits: Sendable {
    public var headerTimeoutMs: Int64
    /// Between two reads of the request body.
    public var bodyTimeoutMs: Int64
    public var keepaliveTimeoutMs: Int64
    /// Between two successful writes to a slow client.
    public var sendTimeoutMs: Int64
    public var keepaliveRequests: Int
    public var maxRequestLine: Int
    /// Request line plus all headers.
    public var maxHeaderSize: Int
    public var maxHeaders: Int

    public init(
        headerTimeoutMs: Int64 = 10_000, bodyTimeoutMs: Int64 = 30_000, keepaliveTimeoutMs: Int64 = 75_000,
        sendTimeoutMs: Int64 = 60_000, keepaliveRequests: Int = 10_000, maxRequestLine: Int = 8 << 10,
        maxHeaderSize: Int = 16 << 10, maxHeaders: Int = 100
    ) {
        self.headerTimeoutMs = headerTimeoutMs
        self.bodyTimeoutMs = bodyTimeoutMs
        self.keepaliveTimeoutMs = keepaliveTimeoutMs
        self.sendTimeoutMs = sendTimeoutMs
        self.keepaliveRequests = keepaliveRequests
        self.maxRequestLine = maxRequestLine
        self.maxHeaderSize = maxHeaderSize
        self.maxHeaders = maxHeaders
    }
}

/// The whole validated gateway configuration.
public struct GatewayConfig: Sendable {
    public var sourceFile: String
    public var listen: [ListenAddress]
    /// nil means one worker per CPU (`workers auto;`).
    public var workers: Int?
    /// What the event loops wait on (`io_engine`).
    public var ioEngine = IOEngineSetting.auto
    public var client: ClientLimits
    public var upstreams: [String: UpstreamConfig]
    /// In file order; RouteStage picks the longest matching prefix.
    public var routes: [RouteConfig]
    public var errors: ErrorsConfig
    public var accessLog: AccessLogConfig
    /// The admin listener (`/metrics`, `/healthz`, `/readyz`); nil: none.
    public var adminListen: ListenAddress?
    public var idempotency = IdempotencyConfig()
    /// Where limits and idempotency entries live (`store`), and the shared store's settings.
    public var store = StoreConfig()
    public var access: AccessConfig
    /// How long a drain (SIGTERM, SIGINT) waits for exchanges in flight before exiting anyway.
    public var shutdownTimeoutMs: Int64 = 30_000
    /// Where the process id is written for `gateway --reload`; nil: nowhere (`pid off;`).
    public var pidFile: String?
    /// What `listen ... ssl` listeners present; unused without one.
    public var tls = ServerTLSConfig()

    public init(
        sourceFile: String, listen: [ListenAddress], workers: Int? = nil, client: ClientLimits = ClientLimits(),
        upstreams: [String: UpstreamConfig], routes: [RouteConfig], errors: ErrorsConfig = ErrorsConfig(),
        accessLog: AccessLogConfig = AccessLogConfig(), access: AccessConfig = AccessConfig()
    ) {
        self.sourceFile = sourceFile
        self.listen = listen
        self.workers = workers
        self.client = client
        self.upstreams = upstreams
        self.routes = routes
        self.errors = errors
        self.accessLog = accessLog
        self.access = access
    }
}

/// `io_engine`: io_uring when the kernel allows it (`auto`), or one of the two for certain.
public enum IOEngineSetting: Sendable, Equatable { case auto, epoll, ioUring }
