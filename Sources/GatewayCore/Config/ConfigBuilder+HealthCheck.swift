/// `health_check [path=PATH] [interval=DURATION] [timeout=DURATION] [fails=N] [passes=N] [status=N-N];`
enum HealthCheckConfigBuilder {
    static let expected = "path=PATH, interval=DURATION, timeout=DURATION, fails=N, passes=N or status=N-N"

    static func directive(_ d: ConfigDirective) throws(ConfigError) -> HealthCheckConfig {
        var check = HealthCheckConfig()
        var timeoutAt: SourceLocation?
        for (name, value) in try ConfigOptions.read(d.arguments[...], of: d, as: HealthCheckOption.self, expected: expected) {
            switch name {
            case .path:
                guard isOriginForm(value.text) else {
                    throw Value.error(value, "health_check path=", "a path starting with '/' of at most 1024 visible ASCII characters, without '#'")
                }
                check.path = value.text
            // The timing wheel ticks every 10 ms: a shorter interval or timeout could not be honoured.
            case .interval: check.intervalMs = try Value.duration(value, "health_check interval=", in: 10...Value.day)
            case .timeout:
                check.timeoutMs = try Value.duration(value, "health_check timeout=", in: 10...Value.day)
                timeoutAt = value.location
            case .fails: check.fails = Int(try Value.integer(value, "health_check fails=", in: 1...100))
            case .passes: check.passes = Int(try Value.integer(value, "health_check passes=", in: 1...100))
            case .status: check.statuses = try statuses(value)
            }
        }
        // One check per server at a time: the next starts only once the last one has ended.
        guard check.timeoutMs <= check.intervalMs else {
            throw ConfigError(timeoutAt ?? d.location, "'health_check': timeout (\(check.timeoutMs) ms) exceeds interval "
                              + "(\(check.intervalMs) ms); expected timeout <= interval")
        }
        return check
    }

    /// `200-399` or a single `204`, within 100...599.
    private static func statuses(_ value: ConfigArgument) throws(ConfigError) -> ClosedRange<Int> {
        let bounds = value.text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { ConfigValues.integer(String($0)) }
        guard bounds.count <= 2, let low = bounds.first ?? nil, let high = bounds.last ?? nil,
              (100...599).contains(low), (100...599).contains(high), low <= high else {
            throw Value.error(value, "health_check status=", "a status or a range of statuses in 100...599 such as 200-399")
        }
        return Int(low)...Int(high)
    }

    /// What may follow `GET ` in a request line the check writes itself.
    private static func isOriginForm(_ path: String) -> Bool {
        path.hasPrefix("/") && path.utf8.count <= 1024 && path.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }
    }
}
