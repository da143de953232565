/// Where a directive appears; each context has its own vocabulary.
enum ConfigContext: CaseIterable {
    case top, upstream, route, errors, idempotency, plan, key, anonymous

    var displayName: String {
        switch self {
        case .top: "at top level"
        case .upstream: "inside an 'upstream' block"
        case .route: "inside a 'route' block"
        case .errors: "inside the 'errors' block"
        case .idempotency: "inside the 'idempotency' block"
        case .plan: "inside a 'plan' block"
        case .key: "inside a 'key' block"
        case .anonymous: "inside the 'anonymous' block"
        }
    }
}

/// The shape of one directive: how many arguments, block or not, and whether it may repeat.
/// `usage` is quoted verbatim in errors so they show the expected form.
struct DirectiveRule {
    let name: String
    let usage: String
    let arguments: ClosedRange<Int>
    let isBlock: Bool
    let repeatable: Bool

    init(_ name: String, _ usage: String, arguments: ClosedRange<Int> = 1...1, block: Bool = false, repeatable: Bool = false) {
        self.name = name
        self.usage = usage
        self.arguments = arguments
        self.isBlock = block
        self.repeatable = repeatable
    }

    static func rules(for context: ConfigContext) -> [DirectiveRule] {
        switch context {
        case .top: [
            DirectiveRule("include", "include PATH;"),
            DirectiveRule("listen", "listen [HOST:]PORT;", repeatable: true),
            DirectiveRule("workers", "workers auto|N;"),
            DirectiveRule("client_header_timeout", "client_header_timeout DURATION;"),
            DirectiveRule("client_body_timeout", "client_body_timeout DURATION;"),
            DirectiveRule("keepalive_timeout", "keepalive_timeout DURATION;"),
            DirectiveRule("send_timeout", "send_timeout DURATION;"),
            DirectiveRule("keepalive_requests", "keepalive_requests N;"),
            DirectiveRule("max_request_line", "max_request_line SIZE;"),
            DirectiveRule("max_header_size", "max_header_size SIZE;"),
            DirectiveRule("max_headers", "max_headers N;"),
            DirectiveRule("access_log", "access_log on|off;"),
            DirectiveRule("upstream", "upstream NAME { ... }", block: true, repeatable: true),
            DirectiveRule("route", "route PREFIX { ... }", block: true, repeatable: true),
            DirectiveRule("errors", "errors { ... }", arguments: 0...0, block: true),
            DirectiveRule("idempotency", "idempotency { ... }", arguments: 0...0, block: true),
            DirectiveRule("plan", "plan NAME { ... }", block: true, repeatable: true),
            DirectiveRule("key", "key sha256:HEX|plain:KEY { ... }", block: true, repeatable: true),
            DirectiveRule("keys_file", "keys_file PATH;", repeatable: true),
            DirectiveRule("anonymous", "anonymous { ... }", arguments: 0...0, block: true),
            DirectiveRule("global_concurrency", "global_concurrency N;"),
            DirectiveRule("rate_limit_headers", "rate_limit_headers ietf|legacy|both|off;"),
            DirectiveRule("daily_quota_reset", "daily_quota_reset HH:MM;"),
        ]
        case .upstream: [
            DirectiveRule(
                "server", "server HOST:PORT [weight=N] [max_fails=N] [fail_timeout=DURATION];",
                arguments: 1...4, repeatable: true),
            DirectiveRule("connect_timeout", "connect_timeout DURATION;"),
            DirectiveRule("response_timeout", "response_timeout DURATION;"),
            DirectiveRule("keepalive", "keepalive N;"),
            DirectiveRule("keepalive_timeout", "keepalive_timeout DURATION;"),
            DirectiveRule("max_response_header", "max_response_header SIZE;"),
        ]
        case .route: [
            DirectiveRule("upstream", "upstream NAME;"),
            DirectiveRule("methods", "methods METHOD...;", arguments: 1...64),
            DirectiveRule("max_body", "max_body SIZE;"),
            DirectiveRule("errors", "errors rewrite|passthrough;"),
            DirectiveRule("idempotency", "idempotency required|optional|off;"),
            DirectiveRule("idempotency_methods", "idempotency_methods METHOD...;", arguments: 1...64),
            DirectiveRule("auth", "auth required|public;"),
            DirectiveRule("scope", "scope SCOPE...;", arguments: 1...64),
            rateRule,
            DirectiveRule("quota", "quota counts [METHOD...]|off;", arguments: 1...8),
        ]
        case .errors: [
            DirectiveRule("vocabulary", "vocabulary snake|upper;"),
            DirectiveRule("retry_after_default", "retry_after_default DURATION;"),
            DirectiveRule("rewrite_buffer", "rewrite_buffer SIZE;"),
            DirectiveRule("map", "map UPSTREAM_CODE CODE STATUS;", arguments: 3...3, repeatable: true),
        ]
        case .idempotency: [
            DirectiveRule("ttl", "ttl DURATION;"),
            DirectiveRule("max_memory", "max_memory SIZE;"),
            DirectiveRule("max_response_size", "max_response_size SIZE;"),
            DirectiveRule("conflict_status", "conflict_status 409|422;"),
            DirectiveRule("journal", "journal off|PATH;"),
            DirectiveRule("fsync", "fsync always|interval|never;"),
            DirectiveRule("fsync_interval", "fsync_interval DURATION;"),
        ]
        case .plan: limitRules
        case .key: limitRules + [
            DirectiveRule("plan", "plan NAME;"),
            DirectiveRule("scopes", "scopes SCOPE...;", arguments: 1...64),
            DirectiveRule("expires", "expires YYYY-MM-DDTHH:MM:SSZ;"),
            DirectiveRule("revoked", "revoked;", arguments: 0...0),
        ]
        case .anonymous: [rateRule]
        }
    }

    static let rateRule = DirectiveRule("rate", "rate N/s|m|h|d [burst N];", arguments: 1...3)
    static let limitRules = [
        rateRule,
        DirectiveRule("concurrency", "concurrency N;"),
        DirectiveRule("daily_quota", "daily_quota N;"),
    ]

    /// Checks names, shape, argument counts and duplicates of one context's directives,
    /// so the builder only has to interpret values.
    static func check(_ directives: [ConfigDirective], in context: ConfigContext) throws(ConfigError) {
        let allowed = rules(for: context)
        var seen: [String: SourceLocation] = [:]
        for directive in directives {
            guard let rule = allowed.first(where: { $0.name == directive.name }) else {
                throw unknown(directive, in: context, allowed: allowed)
            }
            if rule.isBlock, directive.block == nil {
                throw ConfigError(directive.location, "'\(rule.name)' needs a block; expected: \(rule.usage)")
            }
            if !rule.isBlock, directive.block != nil {
                var message = "'\(rule.name)' does not take a block; expected: \(rule.usage)"
                // `workers 2` then `upstream m {` on the next line reads as one directive with a block.
                if directive.arguments.contains(where: { $0.location.line > directive.location.line }) {
                    message += " (missing ';' at the end of line \(directive.location.line)?)"
                }
                throw ConfigError(directive.location, message)
            }
            try checkArgumentCount(directive, rule)
            if !rule.repeatable {
                if let first = seen[rule.name] {
                    throw ConfigError(directive.location, "duplicate '\(rule.name)'; it is already set at \(first)")
                }
                seen[rule.name] = directive.location
            }
        }
    }

    private static func checkArgumentCount(_ directive: ConfigDirective, _ rule: DirectiveRule) throws(ConfigError) {
        let count = directive.arguments.count
        if count < rule.arguments.lowerBound {
            let what = count == 0 ? "missing argument" : "too few arguments"
            throw ConfigError(directive.location, "'\(rule.name)': \(what); expected: \(rule.usage)")
        }
        guard count > rule.arguments.upperBound else { return }
        let extra = directive.arguments[rule.arguments.upperBound]
        var message = "'\(rule.name)': too many arguments; expected: \(rule.usage)"
        // Arguments spilling onto the next line usually mean the previous line lacks its ';'.
        let previousLine = rule.arguments.upperBound == 0
            ? directive.location.line : directive.arguments[rule.arguments.upperBound - 1].location.line
        if extra.location.line > previousLine {
            message += " (missing ';' at the end of line \(previousLine)?)"
        }
        throw ConfigError(extra.location, message)
    }

    private static func unknown(_ directive: ConfigDirective, in context: ConfigContext, allowed: [DirectiveRule]) -> ConfigError {
        let name = directive.name
        if let home = ConfigContext.allCases.first(where: { other in rules(for: other).contains { $0.name == name } }) {
            return ConfigError(directive.location, "'\(name)' is not allowed \(context.displayName); expected it \(home.displayName)")
        }
        var message = "unknown directive '\(name)' \(context.displayName)"
        if let suggestion = closestName(to: name, among: allowed.map(\.name)) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; expected one of: " + allowed.map(\.name).joined(separator: ", ")
        }
        return ConfigError(directive.location, message)
    }
}
