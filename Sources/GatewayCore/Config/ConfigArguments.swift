/// Typed reads of directive arguments with errors that name the directive, the expected form and the accepted range.
enum Value {
    static let day: Int64 = 86_400_000

    static func error(_ arg: ConfigArgument, _ what: String, _ expected: String) -> ConfigError {
        ConfigError(arg.location, "'\(what)': expected \(expected), got \"\(arg.text)\"")
    }

    static func error(_ arg: ConfigArgument, _ d: ConfigDirective, _ expected: String) -> ConfigError {
        error(arg, d.name, expected)
    }

    /// First argument of `d` as an integer; `alternative` names a keyword the caller handles itself.
    static func integer(_ d: ConfigDirective, in range: ClosedRange<Int64>, alternative: String? = nil) throws(ConfigError) -> Int64 {
        try integer(d.arguments[0], d.name, in: range, alternative: alternative)
    }

    static func integer(
        _ arg: ConfigArgument, _ what: String, in range: ClosedRange<Int64>, alternative: String? = nil
    ) throws(ConfigError) -> Int64 {
        guard let value = ConfigValues.integer(arg.text), range.contains(value) else {
            let expected = "an integer in \(range.lowerBound)...\(range.upperBound)"
            throw error(arg, what, alternative.map { "\($0) or \(expected)" } ?? expected)
        }
        return value
    }

    static func size(_ d: ConfigDirective, in range: ClosedRange<Int64>) throws(ConfigError) -> Int64 {
        let arg = d.arguments[0]
        guard let value = ConfigValues.size(arg.text), range.contains(value) else {
            throw error(arg, d, "a size such as 512, 16k or 1m, in \(formatSize(range.lowerBound))...\(formatSize(range.upperBound))")
        }
        return value
    }

    static func duration(_ d: ConfigDirective, in range: ClosedRange<Int64>) throws(ConfigError) -> Int64 {
        try duration(d.arguments[0], d.name, in: range)
    }

    static func duration(_ arg: ConfigArgument, _ what: String, in range: ClosedRange<Int64>) throws(ConfigError) -> Int64 {
        guard let value = ConfigValues.durationMs(arg.text), range.contains(value) else {
            let bounds = "\(formatDuration(range.lowerBound))...\(formatDuration(range.upperBound))"
            throw error(arg, what, "a duration such as 500ms, 30s or 5m, in \(bounds)")
        }
        return value
    }

    static func keyword<T>(_ d: ConfigDirective, _ choices: [(String, T)]) throws(ConfigError) -> T {
        let arg = d.arguments[0]
        guard let choice = choices.first(where: { $0.0 == arg.text }) else {
            throw error(arg, d, choices.map(\.0).joined(separator: " or "))
        }
        return choice.1
    }

    private static func formatSize(_ bytes: Int64) -> String {
        for (suffix, unit) in [("g", Int64(1) << 30), ("m", 1 << 20), ("k", 1 << 10)] where bytes != 0 && bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)"
    }

    private static func formatDuration(_ ms: Int64) -> String {
        for (suffix, unit) in [("d", day), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % unit == 0 {
            return "\(ms / unit)\(suffix)"
        }
        return ms == 0 ? "0s" : "\(ms)ms"
    }
}
