/// `keys_file PATH;`: one key per line, read without building a directive tree, so a million
/// keys load in about a second:
///     HASH PLAN [scopes=A,B] [expires=TIME] [rate=N/UNIT] [burst=N] [concurrency=N] [daily_quota=N] [revoked]
/// HASH is `sha256:` and 64 hex digits. Blank lines and `#` comments are skipped.
/// Plain-text keys are refused here: a file of thousands of keys is exactly what must not leak.
extension ConfigBuilder {
    mutating func keysFile(_ d: ConfigDirective) throws(ConfigError) {
        let arg = d.arguments[0]
        let directory = arg.location.file == config.sourceFile ? baseDirectory : ConfigLoader.directory(of: arg.location.file)
        let path = arg.text.hasPrefix("/") || directory.isEmpty ? arg.text : directory + "/" + arg.text
        let bytes = try ConfigLoader.readBytes(path, at: arg.location)
        let failure = bytes.withUnsafeBufferPointer { text -> ConfigError? in
            do throws(ConfigError) {
                try keyLines(text, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    private mutating func keyLines(_ text: UnsafeBufferPointer<UInt8>, path: String) throws(ConfigError) {
        let plans = config.access.policies[..<config.access.planCount].map { Array($0.name.utf8) }
        var digest = [UInt8](repeating: 0, count: KeyHash.digestLength)
        var start = 0, line = 0
        while start < text.count {
            line += 1
            var end = start
            while end < text.count && text[end] != 0x0A { end += 1 }
            defer { start = end + 1 }
            func location(_ at: Int) -> SourceLocation { SourceLocation(file: path, line: line, column: at - start + 1) }
            var cursor = start
            guard let hash = Self.field(text, &cursor, end), text[hash.lowerBound] != UInt8(ascii: "#") else { continue }
            guard Self.parseHash(text, hash, into: &digest) else {
                throw ConfigError(location(hash.lowerBound), Self.hashProblem(text, hash))
            }
            guard let planField = Self.field(text, &cursor, end) else {
                throw ConfigError(location(hash.upperBound), "keys file: expected a plan name after the key hash")
            }
            guard let plan = plans.firstIndex(where: { $0.elementsEqual(text[planField]) }) else {
                let name = ConfigArgument(text: String(decoding: text[planField], as: UTF8.self), location: location(planField.lowerBound))
                _ = try planIndex(name)
                continue
            }
            var entry = KeyEntry(policy: UInt32(plan))
            var override = PolicyLimits()
            var burst: ConfigArgument?
            while let option = Self.field(text, &cursor, end), text[option.lowerBound] != UInt8(ascii: "#") {
                let at = location(option.lowerBound)
                try keyOption(String(decoding: text[option], as: UTF8.self), at, &entry, &override, &burst)
            }
            if let burst {
                guard var rate = override.rate ?? config.access.policies[plan].limits.rate else {
                    throw ConfigError(burst.location, "keys file: 'burst=' needs a rate; expected rate=N/UNIT on this line or in the plan")
                }
                rate.burst = try Value.integer(burst, "burst=", in: 1...ConfigValues.maxBurst)
                override.rate = rate
            }
            entry.policy = policyIndex(plan: entry.policy, override: override)
            try insertKey(digest, entry, at: location(hash.lowerBound))
        }
    }

    private mutating func keyOption(_ text: String, _ at: SourceLocation, _ entry: inout KeyEntry, _ override: inout PolicyLimits,
                                    _ burst: inout ConfigArgument?) throws(ConfigError) {
        if text == "revoked" {
            entry.revoked = true
            return
        }
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let option = KeyFileOption(rawValue: String(parts[0])) else {
            let options = KeyFileOption.allCases.map { $0.rawValue + "=" }.joined(separator: ", ")
            throw ConfigError(at, "keys file: unknown option '\(text)'; expected revoked or one of \(options)")
        }
        let name = option.rawValue
        let value = ConfigArgument(text: String(parts[1]), location: SourceLocation(file: at.file, line: at.line, column: at.column + name.utf8.count + 1))
        let directive = ConfigDirective(name: name, location: at, arguments: [value], block: nil)
        switch option {
        case .scopes:
            for scope in value.text.split(separator: ",", omittingEmptySubsequences: false) {
                entry.scopes |= try scopeBit(ConfigArgument(text: String(scope), location: value.location), directive)
            }
        case .expires:
            guard let ms = ConfigValues.timestampMs(value.text) else { throw Value.error(value, "expires=", "a UTC time such as 2027-01-01T00:00:00Z") }
            entry.expiresAtMs = ms
        case .rate: override.rate = try Value.rate(directive)
        case .burst: burst = value
        case .concurrency: override.concurrency = Int(try Value.integer(value, "concurrency=", in: 1...1_000_000))
        case .dailyQuota: override.dailyQuota = try Value.integer(value, "daily_quota=", in: 1...1_000_000_000_000)
        }
    }

    /// The `NAME=VALUE` options of a keys-file line (`revoked` stands alone).
    private enum KeyFileOption: String, CaseIterable {
        case scopes, expires, rate, burst, concurrency, dailyQuota = "daily_quota"
    }

    /// The next whitespace-separated field before `end`.
    private static func field(_ text: UnsafeBufferPointer<UInt8>, _ cursor: inout Int, _ end: Int) -> Range<Int>? {
        while cursor < end, isBlank(text[cursor]) { cursor += 1 }
        guard cursor < end else { return nil }
        let start = cursor
        while cursor < end, !isBlank(text[cursor]) { cursor += 1 }
        return start..<cursor
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D }

    /// `sha256:HEX` into `digest`; false for anything else.
    private static func parseHash(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>, into digest: inout [UInt8]) -> Bool {
        guard hasPrefix(text, field, "sha256:") else { return false }
        let hex = UnsafeBufferPointer(rebasing: text[field.lowerBound + 7..<field.upperBound])
        return digest.withUnsafeMutableBufferPointer { out in out.baseAddress.map { KeyHash.parseHex(hex, into: $0) } ?? false }
    }

    /// Why a line's first field is not a key hash; never echoes it, as it may be a secret.
    private static func hashProblem(_ text: UnsafeBufferPointer<UInt8>, _ field: Range<Int>) -> String {
        let expected = "expected sha256:<64 hex digits> (the hash 'gateway hash-key KEY' prints)"
        if hasPrefix(text, field, "plain:") {
            return "keys file: plain-text keys are not accepted here; \(expected)"
        }
        var scratch = [UInt8](repeating: 0, count: KeyHash.digestLength)
        let bareHex = scratch.withUnsafeMutableBufferPointer { out in
            out.baseAddress.map { KeyHash.parseHex(UnsafeBufferPointer(rebasing: text[field]), into: $0) } ?? false
        }
        if bareHex { return "keys file: a hash needs its 'sha256:' prefix; \(expected)" }
        return "keys file: \(expected), got a value of \(field.count) characters"
    }

    private static func hasPrefix(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ prefix: StaticString) -> Bool {
        guard range.count >= prefix.utf8CodeUnitCount, let base = text.baseAddress else { return false }
        return Bytes.equals(base + range.lowerBound, prefix.utf8CodeUnitCount, prefix)
    }
}
