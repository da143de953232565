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

    /// The rules of this context's directives, in the order the names are declared.
    var rules: [DirectiveRule] {
        switch self {
        case .top: TopDirective.allRules
        case .upstream: UpstreamDirective.allRules
        case .route: RouteDirective.allRules
        case .errors: ErrorsDirective.allRules
        case .idempotency: IdempotencyDirective.allRules
        case .plan: LimitDirective.allRules
        case .key: KeyDirective.allRules
        case .anonymous: AnonymousDirective.allRules
        }
    }
}

/// The directive names of one context. The builder switches over them without a `default:`, so a
/// directive cannot be added to a context without the compiler asking how it is read.
protocol DirectiveName: RawRepresentable<String>, CaseIterable {
    static var context: ConfigContext { get }
    var shape: DirectiveShape { get }
}

extension DirectiveName {
    var rule: DirectiveRule { DirectiveRule(name: rawValue, shape: shape) }
    static var allRules: [DirectiveRule] { allCases.map(\.rule) }
}

/// How a directive is written: how many arguments, block or not, and whether it may repeat.
/// `usage` is quoted verbatim in errors so they show the expected form.
struct DirectiveShape {
    let usage: String
    let arguments: ClosedRange<Int>
    let isBlock: Bool
    let repeatable: Bool

    init(_ usage: String, arguments: ClosedRange<Int> = 1...1, block: Bool = false, repeatable: Bool = false) {
        self.usage = usage
        self.arguments = arguments
        self.isBlock = block
        self.repeatable = repeatable
    }

    static let rate = DirectiveShape("rate N/s|m|h|d [burst N];", arguments: 1...3)
}

struct DirectiveRule {
    let name: String
    let shape: DirectiveShape

    /// Checks names, shape, argument counts and duplicates of one context's directives and pairs
    /// each with its name, so the builder only has to interpret values.
    static func check<Name: DirectiveName>(_ directives: [ConfigDirective], as _: Name.Type) throws(ConfigError) -> [(Name, ConfigDirective)] {
        var seen: [String: SourceLocation] = [:]
        var named: [(Name, ConfigDirective)] = []
        for directive in directives {
            guard let name = Name(rawValue: directive.name) else {
                throw unknown(directive, in: Name.context)
            }
            let rule = name.rule
            try rule.checkShape(directive)
            if !rule.shape.repeatable {
                if let first = seen[rule.name] {
                    throw ConfigError(directive.location, "duplicate '\(rule.name)'; it is already set at \(first)")
                }
                seen[rule.name] = directive.location
            }
            named.append((name, directive))
        }
        return named
    }

    private func checkShape(_ directive: ConfigDirective) throws(ConfigError) {
        if shape.isBlock, directive.block == nil {
            throw ConfigError(directive.location, "'\(name)' needs a block; expected: \(shape.usage)")
        }
        if !shape.isBlock, directive.block != nil {
            var message = "'\(name)' does not take a block; expected: \(shape.usage)"
            // `workers 2` then `upstream m {` on the next line reads as one directive with a block.
            if directive.arguments.contains(where: { $0.location.line > directive.location.line }) {
                message += " (missing ';' at the end of line \(directive.location.line)?)"
            }
            throw ConfigError(directive.location, message)
        }
        try checkArgumentCount(directive)
    }

    private func checkArgumentCount(_ directive: ConfigDirective) throws(ConfigError) {
        let count = directive.arguments.count
        let allowed = shape.arguments
        if count < allowed.lowerBound {
            let what = count == 0 ? "missing argument" : "too few arguments"
            throw ConfigError(directive.location, "'\(name)': \(what); expected: \(shape.usage)")
        }
        guard count > allowed.upperBound else { return }
        let extra = directive.arguments[allowed.upperBound]
        var message = "'\(name)': too many arguments; expected: \(shape.usage)"
        // Arguments spilling onto the next line usually mean the previous line lacks its ';'.
        let previousLine = allowed.upperBound == 0
            ? directive.location.line : directive.arguments[allowed.upperBound - 1].location.line
        if extra.location.line > previousLine {
            message += " (missing ';' at the end of line \(previousLine)?)"
        }
        throw ConfigError(extra.location, message)
    }

    private static func unknown(_ directive: ConfigDirective, in context: ConfigContext) -> ConfigError {
        let name = directive.name
        if let home = ConfigContext.allCases.first(where: { other in other.rules.contains { $0.name == name } }) {
            return ConfigError(directive.location, "'\(name)' is not allowed \(context.displayName); expected it \(home.displayName)")
        }
        let allowed = context.rules.map(\.name)
        var message = "unknown directive '\(name)' \(context.displayName)"
        if let suggestion = closestName(to: name, among: allowed) {
            message += "; did you mean '\(suggestion)'?"
        } else {
            message += "; expected one of: " + allowed.joined(separator: ", ")
        }
        return ConfigError(directive.location, message)
    }
}
