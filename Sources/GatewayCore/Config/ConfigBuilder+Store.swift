/// `store`, `store_failure` and the `store_*` tuning directives.
enum StoreConfigBuilder {
    static let storeForm = "local, or redis://HOST:PORT[/DB] followed by [password=SECRET] [tls]"

    static func backend(_ d: ConfigDirective) throws(ConfigError) -> StoreConfig.Backend {
        let target = d.arguments[0]
        if target.text == "local" {
            if d.arguments.count > 1 { throw Value.error(d.arguments[1], d, "nothing after 'local'") }
            return .local
        }
        guard target.text.hasPrefix("redis://") else { throw Value.error(target, d, storeForm) }
        var rest = target.text.dropFirst("redis://".count)
        var database = 0
        if let slash = rest.lastIndex(of: "/"), !rest[slash...].contains("]") {
            guard let number = ConfigValues.integer(String(rest[rest.index(after: slash)...])), (0...65535).contains(number) else {
                throw Value.error(target, d, "a database number in 0...65535 after the '/'")
            }
            database = Int(number)
            rest = rest[..<slash]
        }
        guard let (host, port) = ConfigValues.hostPort(String(rest), allowBarePort: false) else {
            throw Value.error(target, d, storeForm)
        }
        var endpoint = RedisEndpoint(host: host, port: port, database: database, location: target.location)
        for option in d.arguments.dropFirst() {
            if option.text == "tls" {
                guard !endpoint.tls else { throw ConfigError(option.location, "'store': duplicate option 'tls'") }
                endpoint.tls = true
            } else if option.text.hasPrefix("password=") {
                guard endpoint.password == nil else { throw ConfigError(option.location, "'store': duplicate option 'password='") }
                let password = String(option.text.dropFirst("password=".count))
                guard !password.isEmpty else { throw Value.error(option, d, "password=SECRET with a non-empty SECRET") }
                endpoint.password = password
            } else {
                throw Value.error(option, d, "password=SECRET or tls")
            }
        }
        return .redis(endpoint)
    }

    /// `store_failure open|closed;` for both features, or `store_failure limits=open|closed idempotency=open|closed;`.
    static func failure(_ d: ConfigDirective, into store: inout StoreConfig) throws(ConfigError) {
        let choices = [("open", true), ("closed", false)]
        if d.arguments.count == 1, !d.arguments[0].text.contains("=") {
            let open = try Value.keyword(d, choices)
            store.limitsFailOpen = open
            store.idempotencyFailOpen = open
            return
        }
        let expected = "limits=open|closed or idempotency=open|closed"
        for (feature, value) in try ConfigOptions.read(d.arguments[...], of: d, as: StoreFeature.self, expected: expected) {
            guard let open = choices.first(where: { $0.0 == value.text })?.1 else {
                throw Value.error(value, "store_failure \(feature.rawValue)=", "open or closed")
            }
            switch feature {
            case .limits: store.limitsFailOpen = open
            case .idempotency: store.idempotencyFailOpen = open
            }
        }
    }

    /// `store_sync off;` or `store_sync local_burst=N;` (N in 0...1000; 0 is off). Read only with
    /// `store redis`: a local store has no round trip to save.
    static func sync(_ d: ConfigDirective) throws(ConfigError) -> Int {
        if d.arguments[0].text == "off" { return 0 }
        var burst = 0
        for (_, value) in try ConfigOptions.read(d.arguments[...], of: d, as: StoreSyncOption.self, expected: "off or local_burst=N") {
            burst = Int(try Value.integer(value, "store_sync local_burst=", in: 0...1000))
        }
        return burst
    }
}

/// The options of `store_sync`.
enum StoreSyncOption: String, CaseIterable {
    case localBurst = "local_burst"
}

/// The features `store_failure` sets a policy for.
enum StoreFeature: String, CaseIterable {
    case limits, idempotency
}
