/// Plans, keys, the anonymous bucket and the per-route policy directives.
extension ConfigBuilder {
    mutating func plan(_ d: ConfigDirective) throws(ConfigError) {
        let name = d.arguments[0]
        guard ConfigValues.isName(name.text) else { throw Value.error(name, d, "a plan name of letters, digits, '_', '.', ':' or '-'") }
        if let first = planLocations[name.text] {
            throw ConfigError(d.location, "duplicate 'plan \(name.text)'; it is already defined at \(first)")
        }
        planLocations[name.text] = d.location
        var limits = PolicyLimits()
        for (name, c) in try DirectiveRule.check(d.block ?? [], as: LimitDirective.self) { try limit(name, c, into: &limits) }
        config.access.policies.append(KeyPolicy(name: name.text, limits: limits))
        config.access.planCount += 1
    }

    mutating func key(_ d: ConfigDirective) throws(ConfigError) {
        let digest = try keyDigest(d.arguments[0])
        let children = try DirectiveRule.check(d.block ?? [], as: KeyDirective.self)
        guard let planArg = children.first(where: { $0.0 == .plan })?.1.arguments[0] else {
            throw ConfigError(d.location, "'key' has no plan; expected 'plan NAME;' inside it")
        }
        var entry = KeyEntry(policy: try planIndex(planArg))
        var override = PolicyLimits()
        for (name, c) in children {
            switch name {
            case .plan: break  // read above because it is required
            case .scopes: for arg in c.arguments { entry.scopes |= try scopeBit(arg, c) }
            case .expires:
                guard let ms = ConfigValues.timestampMs(c.arguments[0].text) else {
                    throw Value.error(c.arguments[0], c, "a UTC time such as 2027-01-01T00:00:00Z")
                }
                entry.expiresAtMs = ms
            case .revoked: entry.revoked = true
            case .rate: try limit(.rate, c, into: &override)
            case .concurrency: try limit(.concurrency, c, into: &override)
            case .dailyQuota: try limit(.dailyQuota, c, into: &override)
            }
        }
        entry.policy = policyIndex(plan: entry.policy, override: override)
        try insertKey(digest, entry, at: d.arguments[0].location)
    }

    mutating func anonymous(_ d: ConfigDirective) throws(ConfigError) {
        for (name, c) in try DirectiveRule.check(d.block ?? [], as: AnonymousDirective.self) {
            switch name {
            case .rate: config.access.anonymousRate = try Value.rate(c)
            }
        }
    }

    /// `scope A B...` inside a route: the names and the same as a mask.
    mutating func routeScopes(_ c: ConfigDirective, into route: inout RouteConfig) throws(ConfigError) {
        for arg in c.arguments {
            route.scopeMask |= try scopeBit(arg, c)
            route.scopes.append(arg.text)
        }
    }

    /// Index of the plan named by `arg`.
    func planIndex(_ arg: ConfigArgument) throws(ConfigError) -> UInt32 {
        if let index = config.access.planIndex(named: arg.text) { return UInt32(index) }
        let plans = config.access.policies[..<config.access.planCount].map(\.name)
        var message = "'plan': no plan named '\(arg.text)'"
        if let suggestion = closestName(to: arg.text, among: plans) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; expected the name of a 'plan NAME { ... }' block defined before it"
        }
        throw ConfigError(arg.location, message)
    }

    /// The plan's own policy, or a new one when the key overrides some of its limits.
    mutating func policyIndex(plan: UInt32, override: PolicyLimits) -> UInt32 {
        if override.isEmpty { return plan }
        let base = config.access.policies[Int(plan)]
        config.access.policies.append(KeyPolicy(name: base.name, limits: base.limits.overridden(by: override)))
        return UInt32(config.access.policies.count - 1)
    }

    mutating func insertKey(_ digest: [UInt8], _ entry: KeyEntry, at location: SourceLocation) throws(ConfigError) {
        guard config.access.keys.insert(digest: digest, entry) else {
            throw ConfigError(location, "duplicate key (fingerprint \(KeyHash.fingerprint(digest))); each key may be configured once")
        }
    }

    /// The bit of a scope name, allocating one on first use.
    mutating func scopeBit(_ arg: ConfigArgument, _ d: ConfigDirective) throws(ConfigError) -> UInt64 {
        guard ConfigValues.isName(arg.text) else { throw Value.error(arg, d, "a scope name of letters, digits, '_', '.', ':' or '-'") }
        if let index = config.access.scopeNames.firstIndex(of: arg.text) { return 1 << UInt64(index) }
        guard config.access.scopeNames.count < 64 else {
            throw ConfigError(arg.location, "'\(d.name)': too many distinct scopes; expected at most 64")
        }
        config.access.scopeNames.append(arg.text)
        return 1 << UInt64(config.access.scopeNames.count - 1)
    }

    private func limit(_ name: LimitDirective, _ c: ConfigDirective, into limits: inout PolicyLimits) throws(ConfigError) {
        switch name {
        case .rate: limits.rate = try Value.rate(c)
        case .concurrency: limits.concurrency = Int(try Value.integer(c, in: 1...1_000_000))
        case .dailyQuota: limits.dailyQuota = try Value.integer(c, in: 1...1_000_000_000_000)
        }
    }

    /// `sha256:HEX` or `plain:KEY` (hashed here, with a start-up warning). A bare HEX is refused:
    /// it could as well be a plain key that happens to look like a hash, so the prefix says which.
    private mutating func keyDigest(_ arg: ConfigArgument) throws(ConfigError) -> [UInt8] {
        if arg.text.hasPrefix("plain:") {
            let key = String(arg.text.dropFirst(6))
            guard !key.isEmpty else { throw Value.error(arg, "key", "a key after 'plain:'") }
            let digest = KeyHash.sha256(key)
            config.access.warnings.append(
                "\(arg.location): key \(KeyHash.fingerprint(digest)) is written in plain text; "
                    + "configure its hash instead (key sha256:HEX, printed by 'gateway hash-key KEY')")
            return digest
        }
        let expected = "expected sha256:<64 hex digits> (the hash 'gateway hash-key KEY' prints) or plain:KEY"
        if arg.text.hasPrefix("sha256:"), let digest = KeyHash.parseHex(String(arg.text.dropFirst(7))) { return digest }
        if KeyHash.parseHex(arg.text) != nil {
            throw ConfigError(arg.location, "'key': a hash needs its 'sha256:' prefix; \(expected)")
        }
        // The value is not echoed: it may be a secret written in the wrong place.
        throw ConfigError(arg.location, "'key': \(expected), got a value of \(arg.text.utf8.count) characters")
    }

    func quota(_ d: ConfigDirective) throws(ConfigError) -> QuotaCounting {
        let first = d.arguments[0]
        if first.text == "off", d.arguments.count == 1 { return .off }
        guard first.text == "counts" else { throw Value.error(first, d, "counts [METHOD...] or off") }
        guard d.arguments.count > 1 else { return .all }
        let known: [String: HTTPMethod] = ["GET": .get, "HEAD": .head, "POST": .post, "PUT": .put, "PATCH": .patch,
                                           "DELETE": .delete, "OPTIONS": .options]
        var methods: Set<HTTPMethod> = []
        for arg in d.arguments.dropFirst() {
            guard let method = known[arg.text] else { throw Value.error(arg, d, "GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS") }
            methods.insert(method)
        }
        return .methods(methods)
    }
}

extension Value {
    /// `rate N/UNIT [burst B]`; without a burst the bucket holds one period's worth.
    static func rate(_ d: ConfigDirective) throws(ConfigError) -> TokenRate {
        let args = d.arguments
        guard let (count, periodMs) = ConfigValues.rate(args[0].text) else {
            throw error(args[0], d, "a rate such as 10/s, 100/m or 1000/h, at most \(ConfigValues.maxRateCount) per period")
        }
        guard args.count > 1 else { return TokenRate(count: count, periodMs: periodMs, burst: count) }
        guard args.count == 3, args[1].text == "burst" else {
            throw error(args[1], d, "'burst N' after the rate")
        }
        let burst = try integer(args[2], "rate burst", in: 1...ConfigValues.maxBurst)
        return TokenRate(count: count, periodMs: periodMs, burst: burst)
    }
}
