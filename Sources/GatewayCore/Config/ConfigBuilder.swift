/// Interprets a directive tree (includes already spliced) as a `GatewayConfig` and validates it.
struct ConfigBuilder {
    var config: GatewayConfig
    var planLocations: [String: SourceLocation] = [:]
    /// Anchors relative paths (`keys_file`, `journal`) of the top file (included files use their own directory).
    let baseDirectory: String
    private var locations: [String: SourceLocation] = [:]
    /// The `upstream NAME` argument of each route, checked once every upstream is known.
    private var routeTargets: [ConfigArgument] = []
    private var upstreamLocations: [String: SourceLocation] = [:]
    private var routeLocations: [String: SourceLocation] = [:]
    /// `ssl_certificate` and `ssl_certificate_key` in file order, paired once all are read.
    var certificateChains: [ConfigFile] = []
    var certificateKeys: [ConfigFile] = []

    static func build(_ directives: [ConfigDirective], file: String, baseDirectory: String) throws(ConfigError) -> GatewayConfig {
        var builder = ConfigBuilder(config: GatewayConfig(sourceFile: file, listen: [], upstreams: [:], routes: []),
                                    baseDirectory: baseDirectory)
        try builder.top(directives)
        try builder.validate(file: file)
        return builder.config
    }

    private init(config: GatewayConfig, baseDirectory: String) {
        self.config = config
        self.baseDirectory = baseDirectory
    }

    private mutating func top(_ directives: [ConfigDirective]) throws(ConfigError) {
        let named = try DirectiveRule.check(directives, as: TopDirective.self)
        // Plans first, so keys anywhere in the file can name them.
        for (name, d) in named where name == .plan { try plan(d) }
        for (name, d) in named {
            locations[d.name] = d.location
            switch name {
            case .include, .plan: break  // `include` was spliced by ConfigLoader; plans were read above.
            case .listen: config.listen.append(try listenAddress(d))
            case .workers:
                config.workers = d.arguments[0].text == "auto" ? nil : Int(try Value.integer(d, in: 1...256, alternative: "auto"))
            case .clientHeaderTimeout: config.client.headerTimeoutMs = try Value.duration(d, in: 1...Value.day)
            case .clientBodyTimeout: config.client.bodyTimeoutMs = try Value.duration(d, in: 1...Value.day)
            case .keepaliveTimeout: config.client.keepaliveTimeoutMs = try Value.duration(d, in: 1...Value.day)
            case .sendTimeout: config.client.sendTimeoutMs = try Value.duration(d, in: 1...Value.day)
            case .keepaliveRequests: config.client.keepaliveRequests = Int(try Value.integer(d, in: 1...1_000_000_000))
            case .maxRequestLine: config.client.maxRequestLine = Int(try Value.size(d, in: 256...(1 << 20)))
            case .maxHeaderSize: config.client.maxHeaderSize = Int(try Value.size(d, in: (1 << 10)...(1 << 20)))
            case .maxHeaders: config.client.maxHeaders = Int(try Value.integer(d, in: 1...10_000))
            case .accessLog: config.accessLog = try ObservabilityConfigBuilder.accessLog(d, directory: directory(of: d))
            case .upstream: try upstream(d)
            case .route: try route(d)
            case .errors: config.errors = try errors(d)
            case .idempotency: config.idempotency = try IdempotencyConfigBuilder.block(d, directory: directory(of: d))
            case .key: try key(d)
            case .keysFile: try keysFile(d)
            case .anonymous: try anonymous(d)
            case .globalConcurrency: config.access.globalConcurrency = Int(try Value.integer(d, in: 1...10_000_000))
            case .rateLimitHeaders:
                config.access.headers = try Value.keyword(d, [("ietf", RateLimitHeaderStyle.ietf), ("legacy", .legacy),
                                                              ("both", .both), ("off", .off)])
            case .dailyQuotaReset:
                guard let ms = ConfigValues.timeOfDayMs(d.arguments[0].text) else {
                    throw Value.error(d.arguments[0], d, "a UTC time of day HH:MM such as 00:00")
                }
                config.access.quotaResetOffsetMs = ms
            case .authRealm:
                guard ConfigValues.isRealm(d.arguments[0].text) else {
                    throw Value.error(d.arguments[0], d, "1 to 128 printable ASCII characters without '\"' or '\\'")
                }
                config.access.authRealm = d.arguments[0].text
            case .shutdownTimeout: config.shutdownTimeoutMs = try Value.duration(d, in: 0...Value.day)
            case .pid:
                let path = d.arguments[0].text
                let directory = d.location.file == config.sourceFile ? baseDirectory : ConfigLoader.directory(of: d.location.file)
                config.pidFile = path == "off" ? nil : path.hasPrefix("/") ? path : directory + "/" + path
            case .adminListen: config.adminListen = try ObservabilityConfigBuilder.adminListen(d)
            case .ioEngine: config.ioEngine = try Value.keyword(d, [("auto", IOEngineSetting.auto), ("epoll", .epoll), ("io_uring", .ioUring)])
            case .sslCertificate: certificateChains.append(file(d))
            case .sslCertificateKey: certificateKeys.append(file(d))
            case .sslProtocols: try tlsProtocols(d)
            case .sslCiphers: (config.tls.ciphers, config.tls.ciphersLocation) = try cipherList(d)
            case .sslCiphersuites: (config.tls.ciphersuites, config.tls.ciphersuitesLocation) = try cipherList(d)
            case .sslSessionTickets: config.tls.sessionTickets = try Value.keyword(d, [("on", true), ("off", false)])
            case .sslHandshakeTimeout: config.tls.handshakeTimeoutMs = try Value.duration(d, in: 1...Value.day)
            case .store: config.store.backend = try StoreConfigBuilder.backend(d)
            case .storeFailure: try StoreConfigBuilder.failure(d, into: &config.store)
            case .storeConnectTimeout: config.store.connectTimeoutMs = try Value.duration(d, in: 10...60_000)
            case .storeCommandTimeout: config.store.commandTimeoutMs = try Value.duration(d, in: 10...60_000)
            case .storeRetryInterval: config.store.retryIntervalMs = try Value.duration(d, in: 100...300_000)
            case .storeConnections: config.store.connections = Int(try Value.integer(d, in: 1...16))
            case .storeQueue: config.store.queue = Int(try Value.integer(d, in: 16...1_000_000))
            case .storeSync: config.store.localBurst = try StoreConfigBuilder.sync(d)
            }
        }
    }

    /// Relative paths in a directive resolve against the directory of the file it is written in.
    private func directory(of d: ConfigDirective) -> String {
        d.location.file == config.sourceFile ? baseDirectory : ConfigLoader.directory(of: d.location.file)
    }

    private func listenAddress(_ d: ConfigDirective) throws(ConfigError) -> ListenAddress {
        let arg = d.arguments[0]
        guard let (host, port) = ConfigValues.hostPort(arg.text, allowBarePort: true) else {
            throw Value.error(arg, d, "HOST:PORT, [IPV6]:PORT or a bare PORT (1...65535)")
        }
        if d.arguments.count == 2, d.arguments[1].text != "ssl" {
            throw Value.error(d.arguments[1], d, "'ssl' (a TLS listener) or nothing after the address")
        }
        return ListenAddress(host: host, port: port, ssl: d.arguments.count == 2, location: arg.location)
    }

    private mutating func upstream(_ d: ConfigDirective) throws(ConfigError) {
        let name = d.arguments[0].text
        if let first = upstreamLocations[name] {
            throw ConfigError(d.location, "duplicate 'upstream \(name)'; it is already defined at \(first)")
        }
        upstreamLocations[name] = d.location
        var upstream = UpstreamConfig(name: name)
        var tlsOn = false
        let children = try DirectiveRule.check(d.block ?? [], as: UpstreamDirective.self)
        for (name, c) in children {
            switch name {
            case .server: upstream.servers.append(try server(c))
            case .connectTimeout: upstream.connectTimeoutMs = try Value.duration(c, in: 1...Value.day)
            case .responseTimeout: upstream.responseTimeoutMs = try Value.duration(c, in: 1...Value.day)
            case .keepalive: upstream.keepalive = Int(try Value.integer(c, in: 0...100_000))
            case .keepaliveTimeout: upstream.keepaliveTimeoutMs = try Value.duration(c, in: 1...Value.day)
            case .maxResponseHeader: upstream.maxResponseHeaderSize = Int(try Value.size(c, in: (1 << 10)...(1 << 20)))
            case .healthCheck: upstream.healthCheck = try HealthCheckConfigBuilder.directive(c)
            case .tls: tlsOn = try Value.keyword(c, [("on", true), ("off", false)])
            case .tlsTrustedCertificate: upstream.tls.trustedCertificate = file(c)
            case .tlsServerName: upstream.tls.serverName = try serverName(c)
            case .tlsCertificate: upstream.tls.certificate = file(c)
            case .tlsCertificateKey: upstream.tls.certificateKey = file(c)
            }
        }
        guard !upstream.servers.isEmpty else {
            throw ConfigError(d.location, "'upstream \(name)' has no servers; expected at least one 'server HOST:PORT;'")
        }
        if tlsOn { for i in upstream.servers.indices { upstream.servers[i].tls = true } }
        try checkUpstreamTLS(upstream, children.map(\.1))
        config.upstreams[name] = upstream
    }

    private func server(_ d: ConfigDirective) throws(ConfigError) -> UpstreamServer {
        let address = d.arguments[0]
        guard let (host, port) = ConfigValues.hostPort(address.text, allowBarePort: false) else {
            throw Value.error(address, d, "HOST:PORT or [IPV6]:PORT")
        }
        var server = UpstreamServer(host: host, port: port, location: address.location)
        let expected = "weight=N, max_fails=N, fail_timeout=DURATION or tls"
        var options = d.arguments.dropFirst()
        // `tls` is a flag, the one option written without a value.
        if let index = options.firstIndex(where: { $0.text == "tls" }) {
            if let again = options[(index + 1)...].first(where: { $0.text == "tls" }) {
                throw ConfigError(again.location, "'server': duplicate option 'tls'")
            }
            server.tls = true
            options.remove(at: index)
        }
        if let valued = options.first(where: { $0.text.hasPrefix("tls=") }) { throw Value.error(valued, d, "'tls' alone, without a value") }
        for (name, value) in try ConfigOptions.read(options, of: d, as: ServerOption.self, expected: expected) {
            switch name {
            case .weight: server.weight = Int(try Value.integer(value, "server weight=", in: 1...1000))
            case .maxFails: server.maxFails = Int(try Value.integer(value, "server max_fails=", in: 0...1000))
            case .failTimeout: server.failTimeoutMs = try Value.duration(value, "server fail_timeout=", in: 1...Value.day)
            }
        }
        return server
    }

    private mutating func route(_ d: ConfigDirective) throws(ConfigError) {
        let prefixArg = d.arguments[0]
        guard prefixArg.text.hasPrefix("/") else { throw Value.error(prefixArg, d, "a path prefix starting with '/'") }
        if let first = routeLocations[prefixArg.text] {
            throw ConfigError(d.location, "duplicate 'route \(prefixArg.text)'; it is already defined at \(first)")
        }
        routeLocations[prefixArg.text] = d.location
        let children = try DirectiveRule.check(d.block ?? [], as: RouteDirective.self)
        guard let target = children.first(where: { $0.0 == .upstream })?.1.arguments[0] else {
            throw ConfigError(d.location, "'route \(prefixArg.text)' has no upstream; expected 'upstream NAME;' inside it")
        }
        var route = RouteConfig(prefix: prefixArg.text, upstream: target.text)
        for (name, c) in children {
            switch name {
            case .upstream: break  // read above because it is required
            case .methods: route.methods = try methods(c)
            case .maxBody: route.maxBody = try Value.size(c, in: 0...(1 << 40))
            case .errors: route.errors = try Value.keyword(c, [("rewrite", ErrorRewriteMode.rewrite), ("passthrough", .passthrough)])
            case .idempotency: route.idempotency.mode = try IdempotencyConfigBuilder.mode(c)
            case .idempotencyMethods: route.idempotency.methods = try IdempotencyConfigBuilder.checkMethods(methods(c), c)
            case .auth: route.auth = try Value.keyword(c, [("required", RouteAuth.required), ("public", .public)])
            case .scope: try routeScopes(c, into: &route)
            case .rate: route.rate = try Value.rate(c)
            case .quota: route.quota = try quota(c)
            case .upgrade: route.upgrades = try upgrades(c)
            }
        }
        if route.scopeMask != 0, route.auth == .public, let scope = children.first(where: { $0.0 == .scope })?.1 {
            throw ConfigError(scope.location, "'scope' on a public route would never be checked; expected 'auth required;' in 'route \(prefixArg.text)'")
        }
        routeTargets.append(target)
        config.routes.append(route)
    }

    private func methods(_ d: ConfigDirective) throws(ConfigError) -> [String] {
        var methods: [String] = []
        for arg in d.arguments {
            // Methods are case-sensitive in HTTP; a lower-case one would never match a real client.
            guard ConfigValues.isToken(arg.text), arg.text == arg.text.uppercased() else {
                throw Value.error(arg, d, "an upper-case HTTP method such as GET or POST")
            }
            guard !methods.contains(arg.text) else { throw ConfigError(arg.location, "'methods': \(arg.text) is listed twice") }
            methods.append(arg.text)
        }
        return methods
    }

    /// Protocols a client may switch to through `Upgrade` (RFC 9110 §7.8): names compared without case.
    private func upgrades(_ d: ConfigDirective) throws(ConfigError) -> [String] {
        var names: [String] = []
        for arg in d.arguments {
            guard ConfigValues.isToken(arg.text) else { throw Value.error(arg, d, "a protocol name such as websocket") }
            let name = arg.text.lowercased()
            guard !names.contains(name) else { throw ConfigError(arg.location, "'upgrade': \(arg.text) is listed twice") }
            names.append(name)
        }
        return names
    }

    private func errors(_ d: ConfigDirective) throws(ConfigError) -> ErrorsConfig {
        var errors = ErrorsConfig()
        for (name, c) in try DirectiveRule.check(d.block ?? [], as: ErrorsDirective.self) {
            switch name {
            case .vocabulary: errors.vocabulary = try Value.keyword(c, [("snake", ErrorVocabulary.snake), ("upper", .upper)])
            case .retryAfterDefault:
                // Retry-After carries whole seconds; round up so the client never retries early.
                errors.retryAfterDefaultSeconds = Int((try Value.duration(c, in: 0...Value.day) + 999) / 1000)
            case .rewriteBuffer: errors.rewriteBufferSize = Int(try Value.size(c, in: (1 << 10)...(16 << 20)))
            case .map: errors.overrides.append(try override(c, existing: errors.overrides))
            }
        }
        return errors
    }

    private func override(_ d: ConfigDirective, existing: [ErrorCodeOverride]) throws(ConfigError) -> ErrorCodeOverride {
        let (from, to, status) = (d.arguments[0], d.arguments[1], d.arguments[2])
        for code in [from, to] where !ConfigValues.isErrorCode(code.text) {
            throw Value.error(code, d, "an error code of letters, digits, '_', '.' or '-'")
        }
        guard !existing.contains(where: { $0.upstreamCode == from.text }) else {
            throw ConfigError(from.location, "'map': \(from.text) is already mapped")
        }
        let code = Int(try Value.integer(status, "map", in: 100...599))
        return ErrorCodeOverride(upstreamCode: from.text, code: to.text, status: code)
    }

    /// Checks that need the whole file: references between blocks and limits that depend on each other.
    private mutating func validate(file: String) throws(ConfigError) {
        guard !config.listen.isEmpty else {
            throw ConfigError(
                SourceLocation(file: file, line: 1, column: 1),
                "no 'listen' directive; expected at least one, e.g. 'listen 127.0.0.1:8080;'")
        }
        for target in routeTargets where config.upstreams[target.text] == nil {
            var message = "'upstream': no upstream named '\(target.text)'"
            if let suggestion = closestName(to: target.text, among: config.upstreams.keys.sorted()) {
                message += "; did you mean '\(suggestion)'?"
            } else {
                message += "; expected the name of an 'upstream NAME { ... }' block"
            }
            throw ConfigError(target.location, message)
        }
        try ObservabilityConfigBuilder.checkAdminListen(config)
        try pairCertificates()
        if let tlsListen = config.listen.first(where: \.ssl), config.tls.certificates.isEmpty {
            throw ConfigError(tlsListen.location, "'listen ... ssl' needs a certificate; expected 'ssl_certificate FILE;' and 'ssl_certificate_key FILE;' at top level")
        }
        if config.client.maxRequestLine > config.client.maxHeaderSize, let at = locations["max_request_line"] ?? locations["max_header_size"] {
            throw ConfigError(
                at,
                "'max_request_line' (\(config.client.maxRequestLine)) exceeds 'max_header_size' (\(config.client.maxHeaderSize)); expected max_request_line <= max_header_size")
        }
    }
}
