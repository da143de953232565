/// Incremental parser for an upstream's response head; the same strict header rules as requests,
/// because a lenient response parser is how response splitting and desync get in.
public struct ResponseHeadParser: Sendable {
    public var limits: HeadLimits
    public private(set) var head = ResponseHead()
    private var scanner = HeadLineScanner()
    private var sawStatusLine = false

    public init(limits: HeadLimits) {
        self.limits = limits
    }

    public mutating func reset() {
        scanner.reset()
        sawStatusLine = false
        head.facts.reset()
    }

    public mutating func parse(_ p: UnsafePointer<UInt8>, count: Int) -> HeadParseStatus {
        while true {
            switch scanner.next(p, count) {
            case .needMore:
                if count >= limits.maxHeadSize { return .failed(.headersTooLarge("response head too large")) }
                return .needMore
            case .bareLineFeed:
                return .failed(.malformed("line not terminated by CRLF"))
            case .line(let start, let length):
                if start + length + 2 > limits.maxHeadSize { return .failed(.headersTooLarge("response head too large")) }
                if !sawStatusLine {
                    if let error = parseStatusLine(p, start: start, length: length) { return .failed(error) }
                    sawStatusLine = true
                    continue
                }
                if length == 0 {
                    if head.facts.otherTransferCoding { return .failed(.malformed("unsupported transfer coding in response")) }
                    if head.facts.transferEncodingSeen && head.facts.contentLength >= 0 {
                        // RFC 9112 §6.3: Transfer-Encoding overrides; the connection cannot be trusted afterwards.
                        head.facts.connectionClose = true
                    }
                    return .complete(headLength: start + 2)
                }
                if head.facts.fields.count >= limits.maxHeaders { return .failed(.headersTooLarge("too many headers")) }
                if let error = HeaderLineParser.parse(p, start: start, length: length, into: &head.facts) {
                    return .failed(error)
                }
            }
        }
    }

    /// "HTTP/1.1 200 OK"; the reason phrase may be empty and its separating space missing.
    private mutating func parseStatusLine(_ p: UnsafePointer<UInt8>, start: Int, length: Int) -> HTTPParseError? {
        if length < 12 { return .malformed("invalid status line") }
        if Bytes.equals(p + start, 8, "HTTP/1.1") {
            head.version = .http11
        } else if Bytes.equals(p + start, 8, "HTTP/1.0") {
            head.version = .http10
        } else {
            return .malformed("unsupported HTTP version in response")
        }
        let s = p + start + 8
        guard s[0] == 0x20, let code = Bytes.parseDecimal(s + 1, 3), code >= 100, code <= 999 else {
            return .malformed("invalid status code")
        }
        head.status = Int(code)
        let afterCode = start + 12
        let end = start + length
        if afterCode < end {
            if p[afterCode] != 0x20 { return .malformed("invalid status line") }
            for j in (afterCode + 1)..<end where !ByteClass.fieldValue[Int(p[j])] {
                return .malformed("invalid character in reason phrase")
            }
            head.reasonStart = afterCode + 1
            head.reasonLength = end - afterCode - 1
        } else {
            head.reasonStart = end
            head.reasonLength = 0
        }
        return nil
    }
}
