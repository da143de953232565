/// `name=value` arguments after a directive's positional ones (`server HOST:PORT weight=2`,
/// `health_check interval=1s`): each name known and given once, its value with its own location.
enum ConfigOptions {
    /// `expected` lists the accepted forms, for errors (e.g. "weight=N, max_fails=N or fail_timeout=DURATION").
    static func read<Option: RawRepresentable<String> & CaseIterable & Hashable>(
        _ arguments: ArraySlice<ConfigArgument>, of d: ConfigDirective, as _: Option.Type, expected: String
    ) throws(ConfigError) -> [(Option, ConfigArgument)] {
        var seen: Set<Option> = []
        var options: [(Option, ConfigArgument)] = []
        for argument in arguments {
            let parts = argument.text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard parts.count == 2 else { throw Value.error(argument, d, expected) }
            guard let name = Option(rawValue: key) else {
                let hint = closestName(to: key, among: Option.allCases.map(\.rawValue)).map { "did you mean '\($0)='?" }
                    ?? "expected \(expected)"
                throw ConfigError(argument.location, "'\(d.name)': unknown option '\(key)='; \(hint)")
            }
            guard seen.insert(name).inserted else {
                throw ConfigError(argument.location, "'\(d.name)': duplicate option '\(key)='")
            }
            options.append((name, ConfigArgument(text: String(parts[1]), location: argument.location)))
        }
        return options
    }
}
