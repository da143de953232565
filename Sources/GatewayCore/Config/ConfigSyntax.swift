/// One argument of a directive, with its position for error messages.
struct ConfigArgument: Sendable {
    var text: String
    var location: SourceLocation
}

/// Generic directive tree: `name args;` or `name args { children }`; meaning is assigned later.
struct ConfigDirective: Sendable {
    var name: String
    var location: SourceLocation
    var arguments: [ConfigArgument]
    /// nil for a plain `name args;` directive, the children for a block.
    var block: [ConfigDirective]?
}

/// Recursive-descent parser from tokens to the directive tree.
struct ConfigParser {
    private var lexer: ConfigLexer
    private var token: ConfigToken

    static func parse(text: String, file: String) throws(ConfigError) -> [ConfigDirective] {
        var parser = try ConfigParser(lexer: ConfigLexer(text: text, file: file))
        return try parser.directives(closing: nil)
    }

    private init(lexer: ConfigLexer) throws(ConfigError) {
        self.lexer = lexer
        self.token = try self.lexer.next()
    }

    private mutating func advance() throws(ConfigError) {
        token = try lexer.next()
    }

    /// Directives up to the end of input (top level) or the '}' closing `opener`.
    private mutating func directives(closing opener: ConfigDirective?) throws(ConfigError) -> [ConfigDirective] {
        var result: [ConfigDirective] = []
        while true {
            switch token.kind {
            case .word(let name):
                let location = token.location, nameEnd = token.endLocation
                try advance()
                result.append(try directive(name: name, at: location, nameEnd: nameEnd))
            case .closeBrace:
                guard opener != nil else { throw ConfigError(token.location, "unexpected '}' with no open block") }
                try advance()
                return result
            case .end:
                if let opener {
                    throw ConfigError(opener.location, "unclosed block '\(opener.name)'; expected '}' before end of file")
                }
                return result
            case .quoted:
                throw ConfigError(token.location, "expected a directive name, got a quoted string")
            case .openBrace:
                throw ConfigError(token.location, "unexpected '{'; expected a directive name before it")
            case .semicolon:
                throw ConfigError(token.location, "unexpected ';'; expected a directive name before it")
            }
        }
    }

    private mutating func directive(
        name: String, at location: SourceLocation, nameEnd: SourceLocation
    ) throws(ConfigError) -> ConfigDirective {
        var node = ConfigDirective(name: name, location: location, arguments: [], block: nil)
        var lastEnd = nameEnd
        while true {
            switch token.kind {
            case .word(let text), .quoted(let text):
                node.arguments.append(ConfigArgument(text: text, location: token.location))
                lastEnd = token.endLocation
                try advance()
            case .semicolon:
                try advance()
                return node
            case .openBrace:
                try advance()
                node.block = try directives(closing: node)
                return node
            case .closeBrace, .end:
                throw ConfigError(lastEnd, "missing ';' after '\(name)' directive; expected ';' or '{'")
            }
        }
    }
}
