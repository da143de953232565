/// The `idempotency { ... }` block and the route directives of the same name.
enum IdempotencyConfigBuilder {
    /// The store splits `max_memory` evenly between this many shards.
    static let shardCount = 64

    /// Relative journal paths resolve against `directory`, that of the file the directive is in.
    static func block(_ d: ConfigDirective, directory: String) throws(ConfigError) -> IdempotencyConfig {
        var config = IdempotencyConfig()
        var fsync = "interval", intervalMs: Int64 = 1000
        var memoryAt: SourceLocation?
        let children = d.block ?? []
        if let removed = children.first(where: { $0.name == "unknown_outcome_lock" }) {
            throw ConfigError(removed.location, "'unknown_outcome_lock' has been removed: a key whose outcome is unknown (upstream timeout) now answers 409 until its 'ttl' ends, so a retry never executes the request a second time; delete the directive")
        }
        for (name, c) in try DirectiveRule.check(children, as: IdempotencyDirective.self) {
            switch name {
            case .ttl: config.limits.ttlMs = UInt64(try Value.duration(c, in: 1000...(30 * Value.day)))
            case .maxMemory:
                config.limits.maxMemory = Int(try Value.size(c, in: (1 << 20)...(1 << 40)))
                memoryAt = c.location
            case .maxResponseSize:
                config.limits.maxResponseSize = Int(try Value.size(c, in: (1 << 10)...Int64(IdempotencyConfig.maxResponseSizeLimit)))
            case .conflictStatus: config.conflictStatus = try Value.keyword(c, [("409", 409), ("422", 422)])
            case .journal:
                let path = c.arguments[0].text
                config.journalPath = path == "off" ? nil : path.hasPrefix("/") ? path : directory + "/" + path
            case .fsync: fsync = try Value.keyword(c, [("always", "always"), ("interval", "interval"), ("never", "never")])
            case .fsyncInterval: intervalMs = try Value.duration(c, in: 1...Value.day)
            }
        }
        config.sync = fsync == "always" ? .always : fsync == "never" ? .never : .interval(ms: UInt64(intervalMs))
        let needed = shardCount * (config.limits.maxResponseSize + (64 << 10))
        guard config.limits.maxMemory >= needed else {
            throw ConfigError(
                memoryAt ?? d.location,
                "'max_memory' (\(config.limits.maxMemory)) is too small for max_response_size \(config.limits.maxResponseSize); expected at least \(needed) (\(shardCount) shards each holding one largest response)")
        }
        return config
    }

    static func mode(_ d: ConfigDirective) throws(ConfigError) -> IdempotencyMode {
        try Value.keyword(d, [("required", IdempotencyMode.required), ("optional", .optional), ("off", .off)])
    }

    /// Safe methods never need a key, and a replayed HEAD would carry a body it must not have.
    static func checkMethods(_ methods: [String], _ d: ConfigDirective) throws(ConfigError) -> [String] {
        if let index = methods.firstIndex(where: { $0 == "GET" || $0 == "HEAD" }) {
            throw Value.error(d.arguments[index], d, "methods with side effects such as POST or PATCH (GET and HEAD need no key)")
        }
        return methods
    }
}
