/// Every directive the configuration knows, per context, with the form it is written in.

enum TopDirective: String, DirectiveName {
    case include, listen, workers
    case clientHeaderTimeout = "client_header_timeout", clientBodyTimeout = "client_body_timeout"
    case keepaliveTimeout = "keepalive_timeout", sendTimeout = "send_timeout", keepaliveRequests = "keepalive_requests"
    case maxRequestLine = "max_request_line", maxHeaderSize = "max_header_size", maxHeaders = "max_headers"
    case accessLog = "access_log", upstream, route, errors, idempotency, plan, key, keysFile = "keys_file", anonymous
    case globalConcurrency = "global_concurrency", rateLimitHeaders = "rate_limit_headers", dailyQuotaReset = "daily_quota_reset"
    case authRealm = "auth_realm", adminListen = "admin_listen", ioEngine = "io_engine"
    case shutdownTimeout = "shutdown_timeout", pid
    case sslCertificate = "ssl_certificate", sslCertificateKey = "ssl_certificate_key", sslProtocols = "ssl_protocols"
    case sslCiphers = "ssl_ciphers", sslCiphersuites = "ssl_ciphersuites", sslSessionTickets = "ssl_session_tickets"
    case sslHandshakeTimeout = "ssl_handshake_timeout"
    case store, storeFailure = "store_failure", storeConnectTimeout = "store_connect_timeout"
    case storeCommandTimeout = "store_command_timeout", storeRetryInterval = "store_retry_interval"
    case storeConnections = "store_connections", storeQueue = "store_queue", storeSync = "store_sync"

    static let context = ConfigContext.top

    var shape: DirectiveShape {
        switch self {
        case .include: DirectiveShape("include PATH;")
        case .listen: DirectiveShape("listen [HOST:]PORT [ssl];", arguments: 1...2, repeatable: true)
        case .workers: DirectiveShape("workers auto|N;")
        case .clientHeaderTimeout, .clientBodyTimeout, .keepaliveTimeout, .sendTimeout: DirectiveShape("\(rawValue) DURATION;")
        case .keepaliveRequests, .maxHeaders, .globalConcurrency: DirectiveShape("\(rawValue) N;")
        case .maxRequestLine, .maxHeaderSize: DirectiveShape("\(rawValue) SIZE;")
        case .accessLog: DirectiveShape("access_log PATH|stderr|off [format=json|text];", arguments: 1...2)
        case .upstream: DirectiveShape("upstream NAME { ... }", block: true, repeatable: true)
        case .route: DirectiveShape("route PREFIX { ... }", block: true, repeatable: true)
        case .errors, .idempotency, .anonymous: DirectiveShape("\(rawValue) { ... }", arguments: 0...0, block: true)
        case .plan: DirectiveShape("plan NAME { ... }", block: true, repeatable: true)
        case .key: DirectiveShape("key sha256:HEX|plain:KEY { ... }", block: true, repeatable: true)
        case .keysFile: DirectiveShape("keys_file PATH;", repeatable: true)
        case .rateLimitHeaders: DirectiveShape("rate_limit_headers ietf|legacy|both|off;")
        case .dailyQuotaReset: DirectiveShape("daily_quota_reset HH:MM;")
        case .authRealm: DirectiveShape("auth_realm REALM;")
        case .ioEngine: DirectiveShape("io_engine auto|epoll|io_uring;")
        case .shutdownTimeout: DirectiveShape("shutdown_timeout DURATION;")
        case .pid: DirectiveShape("pid off|PATH;")
        case .adminListen: DirectiveShape("admin_listen HOST:PORT;")
        case .sslCertificate: DirectiveShape("ssl_certificate FILE;", repeatable: true)
        case .sslCertificateKey: DirectiveShape("ssl_certificate_key FILE;", repeatable: true)
        case .sslProtocols: DirectiveShape("ssl_protocols TLSv1.2|TLSv1.3...;", arguments: 1...2)
        case .sslCiphers: DirectiveShape("ssl_ciphers CIPHERS;")
        case .sslCiphersuites: DirectiveShape("ssl_ciphersuites SUITES;")
        case .sslSessionTickets: DirectiveShape("ssl_session_tickets on|off;")
        case .sslHandshakeTimeout: DirectiveShape("ssl_handshake_timeout DURATION;")
        case .store: DirectiveShape("store local|redis://HOST:PORT[/DB] [password=SECRET] [tls];", arguments: 1...3)
        case .storeFailure: DirectiveShape("store_failure open|closed | limits=open|closed idempotency=open|closed;", arguments: 1...2)
        case .storeConnectTimeout, .storeCommandTimeout, .storeRetryInterval: DirectiveShape("\(rawValue) DURATION;")
        case .storeConnections, .storeQueue: DirectiveShape("\(rawValue) N;")
        case .storeSync: DirectiveShape("store_sync off|local_burst=N;")
        }
    }
}

enum UpstreamDirective: String, DirectiveName {
    case server, connectTimeout = "connect_timeout", responseTimeout = "response_timeout", keepalive
    case keepaliveTimeout = "keepalive_timeout", maxResponseHeader = "max_response_header", healthCheck = "health_check"
    case tls, tlsTrustedCertificate = "tls_trusted_certificate", tlsServerName = "tls_server_name"
    case tlsCertificate = "tls_certificate", tlsCertificateKey = "tls_certificate_key"

    static let context = ConfigContext.upstream

    var shape: DirectiveShape {
        switch self {
        case .server:
            DirectiveShape("server HOST:PORT [weight=N] [max_fails=N] [fail_timeout=DURATION] [tls];", arguments: 1...5, repeatable: true)
        case .connectTimeout, .responseTimeout, .keepaliveTimeout: DirectiveShape("\(rawValue) DURATION;")
        case .keepalive: DirectiveShape("keepalive N;")
        case .maxResponseHeader: DirectiveShape("max_response_header SIZE;")
        case .healthCheck:
            DirectiveShape("health_check [path=PATH] [interval=DURATION] [timeout=DURATION] [fails=N] [passes=N] [status=N-N];",
                           arguments: 0...6)
        case .tls: DirectiveShape("tls on|off;")
        case .tlsTrustedCertificate, .tlsCertificate, .tlsCertificateKey: DirectiveShape("\(rawValue) FILE;")
        case .tlsServerName: DirectiveShape("tls_server_name NAME;")
        }
    }
}

/// The `name=value` options of `server HOST:PORT option=value... [tls]` (`tls` is a flag, read apart).
enum ServerOption: String, CaseIterable {
    case weight, maxFails = "max_fails", failTimeout = "fail_timeout"
}

/// The options of `health_check option=value...`.
enum HealthCheckOption: String, CaseIterable {
    case path, interval, timeout, fails, passes, status
}

enum RouteDirective: String, DirectiveName {
    case upstream, methods, maxBody = "max_body", errors, idempotency, idempotencyMethods = "idempotency_methods"
    case auth, scope, rate, quota, upgrade

    static let context = ConfigContext.route

    var shape: DirectiveShape {
        switch self {
        case .upstream: DirectiveShape("upstream NAME;")
        case .methods, .idempotencyMethods: DirectiveShape("\(rawValue) METHOD...;", arguments: 1...64)
        case .maxBody: DirectiveShape("max_body SIZE;")
        case .errors: DirectiveShape("errors rewrite|passthrough;")
        case .idempotency: DirectiveShape("idempotency required|optional|off;")
        case .auth: DirectiveShape("auth required|public;")
        case .scope: DirectiveShape("scope SCOPE...;", arguments: 1...64)
        case .rate: DirectiveShape.rate
        case .quota: DirectiveShape("quota counts [METHOD...]|off;", arguments: 1...8)
        case .upgrade: DirectiveShape("upgrade PROTOCOL...;", arguments: 1...8)
        }
    }
}

enum ErrorsDirective: String, DirectiveName {
    case vocabulary, retryAfterDefault = "retry_after_default", rewriteBuffer = "rewrite_buffer", map

    static let context = ConfigContext.errors

    var shape: DirectiveShape {
        switch self {
        case .vocabulary: DirectiveShape("vocabulary snake|upper;")
        case .retryAfterDefault: DirectiveShape("retry_after_default DURATION;")
        case .rewriteBuffer: DirectiveShape("rewrite_buffer SIZE;")
        case .map: DirectiveShape("map UPSTREAM_CODE CODE STATUS;", arguments: 3...3, repeatable: true)
        }
    }
}

enum IdempotencyDirective: String, DirectiveName {
    case ttl, maxMemory = "max_memory", maxResponseSize = "max_response_size"
    case conflictStatus = "conflict_status", journal, fsync, fsyncInterval = "fsync_interval"

    static let context = ConfigContext.idempotency

    var shape: DirectiveShape {
        switch self {
        case .ttl, .fsyncInterval: DirectiveShape("\(rawValue) DURATION;")
        case .maxMemory, .maxResponseSize: DirectiveShape("\(rawValue) SIZE;")
        case .conflictStatus: DirectiveShape("conflict_status 409|422;")
        case .journal: DirectiveShape("journal off|PATH;")
        case .fsync: DirectiveShape("fsync always|interval|never;")
        }
    }
}

/// The limits a plan bundles (the whole `plan` block) and a key may override.
enum LimitDirective: String, DirectiveName {
    case rate, concurrency, dailyQuota = "daily_quota"

    static let context = ConfigContext.plan

    var shape: DirectiveShape {
        switch self {
        case .rate: DirectiveShape.rate
        case .concurrency: DirectiveShape("concurrency N;")
        case .dailyQuota: DirectiveShape("daily_quota N;")
        }
    }
}

enum KeyDirective: String, DirectiveName {
    case rate, concurrency, dailyQuota = "daily_quota", plan, scopes, expires, revoked

    static let context = ConfigContext.key

    var shape: DirectiveShape {
        switch self {
        case .rate: LimitDirective.rate.shape
        case .concurrency: LimitDirective.concurrency.shape
        case .dailyQuota: LimitDirective.dailyQuota.shape
        case .plan: DirectiveShape("plan NAME;")
        case .scopes: DirectiveShape("scopes SCOPE...;", arguments: 1...64)
        case .expires: DirectiveShape("expires YYYY-MM-DDTHH:MM:SSZ;")
        case .revoked: DirectiveShape("revoked;", arguments: 0...0)
        }
    }
}

enum AnonymousDirective: String, DirectiveName {
    case rate

    static let context = ConfigContext.anonymous

    var shape: DirectiveShape {
        switch self {
        case .rate: DirectiveShape.rate
        }
    }
}
