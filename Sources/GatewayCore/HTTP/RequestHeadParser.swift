/// Incremental, strict HTTP/1.1 request-head parser (RFC 9112). Feed it the bytes of the
/// message from its first byte as they arrive; it resumes where it stopped.
public struct RequestHeadParser: Sendable {
    public var limits: HeadLimits
    public private(set) var head = RequestHead()
    private var scanner = HeadLineScanner()
    private var sawRequestLine = false
    /// Offset of the request line (leading empty lines are skipped, RFC 9112 §2.2).
    private var messageStart = 0

    public init(limits: HeadLimits) {
        self.limits = limits
    }

    public mutating func reset() {
        scanner.reset()
        sawRequestLine = false
        messageStart = 0
        head.facts.reset()
        head.expectContinue = false
    }

    public mutating func parse(_ p: UnsafePointer<UInt8>, count: Int) -> HeadParseStatus {
        while true {
            switch scanner.next(p, count) {
            case .needMore:
                // The line's CR may already be here without its LF: only more than that is too long.
                if !sawRequestLine && count - messageStart > limits.maxStartLine + 1 {
                    return .failed(.requestLineTooLong("request line too long"))
                }
                if count - messageStart >= limits.maxHeadSize { return .failed(.headersTooLarge("request head too large")) }
                return .needMore
            case .bareLineFeed:
                return .failed(.malformed("line not terminated by CRLF"))
            case .line(let start, let length):
                if !sawRequestLine {
                    if length == 0 && start < 8 { messageStart = start + 2; continue }
                    if length > limits.maxStartLine { return .failed(.requestLineTooLong("request line too long")) }
                    if let error = parseRequestLine(p, start: start, length: length) { return .failed(error) }
                    sawRequestLine = true
                    continue
                }
                if start + length + 2 - messageStart > limits.maxHeadSize {
                    return .failed(.headersTooLarge("request head too large"))
                }
                if length == 0 {
                    if let error = finish(p) { return .failed(error) }
                    return .complete(headLength: start + 2)
                }
                if head.facts.fields.count >= limits.maxHeaders { return .failed(.headersTooLarge("too many headers")) }
                if let error = HeaderLineParser.parse(p, start: start, length: length, into: &head.facts) {
                    return .failed(error)
                }
            }
        }
    }

    /// Rewrites the target of a complete head in place, so that every consumer (routing, policies,
    /// the idempotency fingerprint, the log, the upstream) sees one canonical origin-form target:
    /// the path normalised by `PathNormalizer`, the query moved up behind it untouched. Fails with
    /// what cannot be normalised safely. `p` is the buffer the head was parsed from.
    public mutating func normalizeTarget(_ p: UnsafeMutablePointer<UInt8>) -> HTTPParseError? {
        RequestTarget.normalize(p, &head)
    }

    private mutating func parseRequestLine(_ p: UnsafePointer<UInt8>, start: Int, length: Int) -> HTTPParseError? {
        let end = start + length
        var i = start
        while i < end && ByteClass.token[Int(p[i])] { i += 1 }
        if i == start || i == end || p[i] != 0x20 { return .malformed("invalid method") }
        head.methodStart = start
        head.methodLength = i - start
        head.method = Self.method(p + start, i - start)
        i += 1
        let targetStart = i
        var query = -1
        i = SWAR.pathEnd(p, from: i, to: end)
        if i < end && p[i] == UInt8(ascii: "?") {
            query = i
            i = SWAR.targetEnd(p, from: i + 1, to: end)
        }
        if i == targetStart || i == end || p[i] != 0x20 { return .malformed("invalid request target") }
        if let error = RequestTarget.parse(p, start: targetStart, end: i, query: query, method: head.method, into: &head) {
            return error
        }
        i += 1
        if end - i != 8 { return .malformed("invalid HTTP version") }
        // RFC 9110 §2.5: a higher minor version of HTTP/1 is answered as the highest one we speak.
        guard Bytes.equals(p + i, 7, "HTTP/1."), p[i + 7] >= UInt8(ascii: "0"), p[i + 7] <= UInt8(ascii: "9") else {
            return .malformed("unsupported HTTP version")
        }
        head.version = p[i + 7] == UInt8(ascii: "0") ? .http10 : .http11
        return nil
    }

    /// Whole-head rules (RFC 9112 §6.3 and §3.2) that need every header first.
    private mutating func finish(_ p: UnsafePointer<UInt8>) -> HTTPParseError? {
        let facts = head.facts
        if facts.transferEncodingSeen {
            if facts.contentLength >= 0 { return .malformed("both Content-Length and Transfer-Encoding") }
            if head.version == .http10 { return .malformed("Transfer-Encoding in an HTTP/1.0 request") }
            // RFC 9112 §6.3: without a final chunked the body length is unknowable (400); a coding
            // before it is one the gateway cannot apply or forward (501, §6.1).
            if !facts.chunked { return .malformed("request Transfer-Encoding must end in chunked") }
            if facts.otherTransferCoding { return .notImplemented("unsupported transfer coding") }
            head.framing = .chunked
        } else {
            head.framing = facts.contentLength > 0 ? .length(facts.contentLength) : .none
        }
        var hosts = 0, authorizations = 0
        var host: HeaderField?, expect: HeaderField?
        for field in facts.fields {
            switch field.known {
            case .host:
                hosts += 1
                host = field
            case .authorization:
                authorizations += 1
            case .expect where expect == nil:
                expect = field
            default:
                break
            }
        }
        if hosts > 1 || (hosts == 0 && head.version == .http11) { return .malformed("exactly one Host header is required") }
        // An empty Host is allowed (RFC 9112 §3.2: a target without authority); a bad one is a 400.
        if let host, host.valueLength > 0, !HostSyntax.isValid(p + Int(host.valueStart), Int(host.valueLength)) {
            return .malformed("invalid Host header")
        }
        // Which of two credentials counts is a choice the gateway and the upstream could make differently.
        if authorizations > 1 { return .malformed("more than one Authorization header") }
        if let expect {
            head.expectContinue = Bytes.equalsLowercase(p + Int(expect.valueStart), Int(expect.valueLength), "100-continue")
        }
        return nil
    }

    private static func method(_ p: UnsafePointer<UInt8>, _ n: Int) -> HTTPMethod {
        switch n {
        case 3:
            if Bytes.equals(p, n, "GET") { return .get }
            return Bytes.equals(p, n, "PUT") ? .put : .other
        case 4:
            if Bytes.equals(p, n, "POST") { return .post }
            return Bytes.equals(p, n, "HEAD") ? .head : .other
        case 5: return Bytes.equals(p, n, "PATCH") ? .patch : .other
        case 6: return Bytes.equals(p, n, "DELETE") ? .delete : .other
        case 7: return Bytes.equals(p, n, "OPTIONS") ? .options : .other
        default: return .other
        }
    }
}
