/// One lexical token of the config language.
struct ConfigToken: Sendable {
    enum Kind: Sendable, Equatable {
        case word(String)
        case quoted(String)
        case openBrace
        case closeBrace
        case semicolon
        case end
    }

    var kind: Kind
    var location: SourceLocation
    /// Just past the token's last byte: where a forgotten ';' belongs.
    var endLocation: SourceLocation
}

/// Splits config text into words, quoted strings and punctuation, tracking line and column.
struct ConfigLexer {
    private let bytes: [UInt8]
    private let file: String
    private var index = 0
    private var line = 1
    private var column = 1

    init(text: String, file: String) {
        self.bytes = Array(text.utf8)
        self.file = file
    }

    private var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    mutating func next() throws(ConfigError) -> ConfigToken {
        skipSpaceAndComments()
        let start = location
        guard index < bytes.count else { return ConfigToken(kind: .end, location: start, endLocation: start) }
        let byte = bytes[index]
        let kind: ConfigToken.Kind
        switch byte {
        case UInt8(ascii: "{"): advance(); kind = .openBrace
        case UInt8(ascii: "}"): advance(); kind = .closeBrace
        case UInt8(ascii: ";"): advance(); kind = .semicolon
        case UInt8(ascii: "\""): kind = .quoted(try quoted(start: start))
        default: kind = .word(try word())
        }
        return ConfigToken(kind: kind, location: start, endLocation: location)
    }

    private mutating func advance() {
        if bytes[index] == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    private mutating func skipSpaceAndComments() {
        while index < bytes.count {
            let byte = bytes[index]
            if Self.isSpace(byte) {
                advance()
            } else if byte == UInt8(ascii: "#") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { advance() }
            } else {
                return
            }
        }
    }

    private mutating func word() throws(ConfigError) -> String {
        let start = index
        while index < bytes.count, !Self.endsWord(bytes[index]) {
            if bytes[index] < 0x20 || bytes[index] == 0x7F {
                throw ConfigError(location, "unexpected control character; expected printable text")
            }
            advance()
        }
        // `ab"cd"` is almost always a typo; refuse it rather than guess the split.
        if index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            throw ConfigError(location, "unexpected '\"' inside a word; expected the whole argument to be quoted")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func quoted(start: SourceLocation) throws(ConfigError) -> String {
        advance()
        var value: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                advance()
                if index < bytes.count, !Self.endsWord(bytes[index]) {
                    throw ConfigError(location, "unexpected text after closing '\"'; expected whitespace, ';' or '{'")
                }
                return String(decoding: value, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                let escape = location
                advance()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "\\") else {
                    throw ConfigError(escape, "invalid escape in string; expected \\\" or \\\\")
                }
            }
            value.append(bytes[index])
            advance()
        }
        throw ConfigError(start, "unterminated string; expected closing '\"'")
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    private static func endsWord(_ byte: UInt8) -> Bool {
        isSpace(byte) || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: ";")
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "#")
    }
}
