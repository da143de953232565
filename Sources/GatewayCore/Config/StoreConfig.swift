/// Where the client limits and Idempotency-Key entries live (`store`), and how the gateway
/// behaves towards a shared store: its failure policy per feature, timeouts, reconnection and
/// the size of each loop's connection pool and queue.
public struct StoreConfig: Sendable, Equatable {
    public enum Backend: Sendable, Equatable {
        /// In this process (the default): each instance has its own.
        case local
        /// One Redis (or Redis Cluster) shared by every instance.
        case redis(RedisEndpoint)
    }

    public var backend = Backend.local
    /// `store_failure`: what a request gets when the store cannot answer. Limits fail open (the
    /// request goes through unchecked), idempotency fails closed (503 with Retry-After), unless
    /// configured otherwise.
    public var limitsFailOpen = true
    public var idempotencyFailOpen = false
    public var connectTimeoutMs: Int64 = 1_000
    /// From the moment a command is queued to its reply: no request waits for the store longer.
    public var commandTimeoutMs: Int64 = 250
    /// The longest wait between two reconnection attempts (the breaker's open interval): attempts
    /// back off from 100 ms, doubling, with jitter, up to this.
    public var retryIntervalMs: Int64 = 2_000
    /// Connections to each Redis node per worker loop; commands are pipelined on each.
    public var connections = 1
    /// Commands one connection may have waiting for replies; past it new ones fail at once.
    public var queue = 4_096
    /// `store_sync local_burst=N`: requests each worker may admit for a key without asking Redis
    /// after an answer that left room (`LocalAllowance`); 0, the default, asks for every request.
    public var localBurst = 0

    public init() {}
}

/// `redis://HOST:PORT[/DB] [password=SECRET] [tls]`.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: UInt16
    public var database: Int
    public var password: String?
    public var tls: Bool
    public var location: SourceLocation

    public init(host: String, port: UInt16, database: Int = 0, password: String? = nil, tls: Bool = false,
                location: SourceLocation = .none) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.tls = tls
        self.location = location
    }

    /// For logs: never the password.
    public var label: String {
        let hostText = host.contains(":") ? "[\(host)]" : host
        return "redis://\(hostText):\(port)" + (database == 0 ? "" : "/\(database)") + (tls ? " (tls)" : "")
    }

    public static func == (a: RedisEndpoint, b: RedisEndpoint) -> Bool {
        a.host == b.host && a.port == b.port && a.database == b.database && a.password == b.password && a.tls == b.tls
    }
}
