/// Parsers for argument value syntaxes; they return nil and leave the wording of errors to the caller,
/// which knows the directive and the accepted range.
enum ConfigValues {
    /// Non-negative decimal integer, digits only (no sign, no spaces), nil on overflow.
    static func integer(_ text: String) -> Int64? {
        guard !text.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// `512`, `10k`, `100m`, `1g` (binary multiples, either case) in bytes.
    static func size(_ text: String) -> Int64? {
        let (digits, suffix) = split(text)
        let multiplier: Int64
        switch suffix {
        case "": multiplier = 1
        case "k", "K": multiplier = 1 << 10
        case "m", "M": multiplier = 1 << 20
        case "g", "G": multiplier = 1 << 30
        default: return nil
        }
        return scaled(digits, by: multiplier)
    }

    /// `500ms`, `30s`, `5m`, `1h`, `1d`; a bare number means seconds. Result in milliseconds.
    static func durationMs(_ text: String) -> Int64? {
        let (digits, suffix) = split(text)
        let multiplier: Int64
        switch suffix {
        case "ms": multiplier = 1
        case "", "s": multiplier = 1000
        case "m": multiplier = 60_000
        case "h": multiplier = 3_600_000
        case "d": multiplier = 86_400_000
        default: return nil
        }
        return scaled(digits, by: multiplier)
    }

    /// `host:port`, `[v6]:port`; with `allowBarePort`, a bare port means all IPv4 interfaces.
    static func hostPort(_ text: String, allowBarePort: Bool) -> (host: String, port: UInt16)? {
        if allowBarePort, let port = port(Substring(text)) { return ("0.0.0.0", port) }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = port(rest.dropFirst()),
                  host.contains(":"), host.utf8.allSatisfy(isIPv6Byte) else { return nil }
            return (String(host), port)
        }
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let host = text[..<colon]
        guard !host.isEmpty, host.utf8.allSatisfy(isHostNameByte),
              let port = port(text[text.index(after: colon)...]) else { return nil }
        return (String(host), port)
    }

    /// RFC 9110 token characters, the syntax of method names.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            isAlphanumeric(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Error codes as they appear in JSON bodies: `[A-Za-z0-9_.-]+`.
    static func isErrorCode(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    private static func port(_ text: Substring) -> UInt16? {
        guard text.utf8.count <= 5, let value = integer(String(text)), (1...65535).contains(value) else { return nil }
        return UInt16(value)
    }

    private static func split(_ text: String) -> (digits: Substring, suffix: Substring) {
        let end = text.firstIndex { !$0.isASCII || !$0.isNumber } ?? text.endIndex
        return (text[..<end], text[end...])
    }

    private static func scaled(_ digits: Substring, by multiplier: Int64) -> Int64? {
        guard let value = integer(String(digits)) else { return nil }
        let (result, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }

    private static func isIPv6Byte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".")
    }
}
