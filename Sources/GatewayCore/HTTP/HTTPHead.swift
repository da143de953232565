/// Parsed message heads. They hold offsets into the bytes they were parsed from, never copies,
/// so they are valid only while those bytes stay where they are.

public enum HTTPVersion: Sendable { case http10, http11 }

public enum HTTPMethod: UInt8, Sendable {
    case get, head, post, put, patch, delete, options, other

    /// RFC 9110 §9.2.2: a retry of these cannot change the outcome.
    public var isIdempotent: Bool {
        switch self {
        case .get, .head, .put, .delete, .options: return true
        case .post, .patch, .other: return false
        }
    }
}

/// Header names the gateway acts on, recognised once while parsing so later stages compare a byte.
public enum KnownHeader: UInt8, Sendable {
    case other
    case host, contentLength, transferEncoding, connection, keepAlive, proxyConnection, te, trailer, upgrade
    case expect, xRequestId, xForwardedFor, xForwardedProto
    case authorization, xApiKey, idempotencyKey, contentType, retryAfter, date

    /// Hop-by-hop headers (RFC 9110 §7.6.1) plus the framing headers the gateway re-creates itself.
    public var isDroppedWhenForwarding: Bool {
        switch self {
        case .contentLength, .transferEncoding, .connection, .keepAlive, .proxyConnection, .te, .trailer, .upgrade, .expect:
            return true
        default:
            return false
        }
    }

    /// `p[0..<n]` must be a token (as the header parser has checked): the comparison relies on it.
    static func classify(_ p: UnsafePointer<UInt8>, _ n: Int) -> KnownHeader {
        switch n {
        case 2: return SWAR.tokenEquals(p, n, "te") ? .te : .other
        case 4:
            if SWAR.tokenEquals(p, n, "host") { return .host }
            return SWAR.tokenEquals(p, n, "date") ? .date : .other
        case 6: return SWAR.tokenEquals(p, n, "expect") ? .expect : .other
        case 7:
            if SWAR.tokenEquals(p, n, "trailer") { return .trailer }
            return SWAR.tokenEquals(p, n, "upgrade") ? .upgrade : .other
        case 9: return SWAR.tokenEquals(p, n, "x-api-key") ? .xApiKey : .other
        case 10:
            if SWAR.tokenEquals(p, n, "connection") { return .connection }
            return SWAR.tokenEquals(p, n, "keep-alive") ? .keepAlive : .other
        case 11: return SWAR.tokenEquals(p, n, "retry-after") ? .retryAfter : .other
        case 12:
            if SWAR.tokenEquals(p, n, "x-request-id") { return .xRequestId }
            return SWAR.tokenEquals(p, n, "content-type") ? .contentType : .other
        case 13: return SWAR.tokenEquals(p, n, "authorization") ? .authorization : .other
        case 14: return SWAR.tokenEquals(p, n, "content-length") ? .contentLength : .other
        case 15:
            if SWAR.tokenEquals(p, n, "x-forwarded-for") { return .xForwardedFor }
            return SWAR.tokenEquals(p, n, "idempotency-key") ? .idempotencyKey : .other
        case 16: return SWAR.tokenEquals(p, n, "proxy-connection") ? .proxyConnection : .other
        case 17:
            if SWAR.tokenEquals(p, n, "transfer-encoding") { return .transferEncoding }
            return SWAR.tokenEquals(p, n, "x-forwarded-proto") ? .xForwardedProto : .other
        default: return .other
        }
    }
}

/// One header line: name and trimmed value as offsets from the start of the message.
public struct HeaderField: Sendable {
    public var nameStart: Int32
    public var nameLength: Int32
    public var valueStart: Int32
    public var valueLength: Int32
    public var known: KnownHeader
}

/// How a message body is delimited on the wire.
public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int64)
    case chunked
    case untilClose
}

/// Facts common to request and response heads, gathered while the headers are parsed.
public struct HeaderFacts: Sendable {
    public var fields: [HeaderField] = []
    public var contentLength: Int64 = -1
    public var chunked = false
    public var transferEncodingSeen = false
    /// A transfer coding other than chunked (gzip, deflate...): the gateway does not decode those.
    public var otherTransferCoding = false
    public var connectionClose = false
    public var connectionKeepAlive = false
    /// Connection named other headers (RFC 9110 §7.6.1): they must be dropped too.
    public var connectionNamesOthers = false
    /// Connection lists `upgrade`: with an Upgrade field, the sender asks to switch protocols.
    public var connectionUpgrade = false

    mutating func reset() {
        fields.removeAll(keepingCapacity: true)
        contentLength = -1
        chunked = false
        transferEncodingSeen = false
        otherTransferCoding = false
        connectionClose = false
        connectionKeepAlive = false
        connectionNamesOthers = false
        connectionUpgrade = false
    }

    /// First field with the given known name.
    public func first(_ name: KnownHeader) -> HeaderField? {
        for f in fields where f.known == name { return f }
        return nil
    }

    public func count(_ name: KnownHeader) -> Int {
        var n = 0
        for f in fields where f.known == name { n += 1 }
        return n
    }
}

public struct RequestHead: Sendable {
    public var method: HTTPMethod = .get
    public var methodStart = 0, methodLength = 0
    /// The path, from its `/` to the `?` or the end of the target. Once `normalizeTarget` has run
    /// (the gateway always runs it) it is the normalised path, in place of the raw one.
    public var pathStart = 0, pathLength = 0
    /// The query with its leading `?`, 0 when there is none; it is never normalised.
    public var queryLength = 0
    /// An absolute-form target's authority (`host[:port]`, RFC 9112 §3.2.2); length 0 for origin-form.
    /// It replaces the Host header toward the upstream.
    public var authorityStart = 0, authorityLength = 0
    public var version: HTTPVersion = .http11
    public var facts = HeaderFacts()
    public var expectContinue = false
    public var framing: BodyFraming = .none

    public init() {}

    /// The query follows the path directly, so path + query is one span: the target as forwarded.
    public var queryStart: Int { pathStart + pathLength }
    public var targetStart: Int { pathStart }
    public var targetLength: Int { pathLength + queryLength }

    /// Whether the client wants the connection kept after this exchange.
    public var keepAlive: Bool {
        version == .http11 ? !facts.connectionClose : (facts.connectionKeepAlive && !facts.connectionClose)
    }
}

public struct ResponseHead: Sendable {
    public var status = 0
    public var reasonStart = 0, reasonLength = 0
    public var version: HTTPVersion = .http11
    public var facts = HeaderFacts()

    public init() {}

    public var keepAlive: Bool {
        version == .http11 ? !facts.connectionClose : (facts.connectionKeepAlive && !facts.connectionClose)
    }

    /// RFC 9112 §6.3: the body length of a response depends on the request method and the status.
    public func framing(requestMethod: HTTPMethod) -> BodyFraming {
        if requestMethod == .head || status < 200 || status == 204 || status == 304 { return .none }
        if facts.transferEncodingSeen { return facts.chunked ? .chunked : .untilClose }
        if facts.contentLength >= 0 { return facts.contentLength == 0 ? .none : .length(facts.contentLength) }
        return .untilClose
    }
}

/// Why a message was refused; the connection answers 400, 414, 431 or 501 and closes.
public enum HTTPParseError: Error, Sendable, Equatable {
    case headersTooLarge(StaticStringBox)
    case malformed(StaticStringBox)
    /// The request line is longer than `max_request_line` (414).
    case requestLineTooLong(StaticStringBox)
    /// A transfer coding the gateway does not implement (501, RFC 9112 §6.1).
    case notImplemented(StaticStringBox)

    public var reason: String {
        switch self {
        case .headersTooLarge(let r), .malformed(let r), .requestLineTooLong(let r), .notImplemented(let r): return r.text
        }
    }
}

/// A StaticString that is Equatable, so parse errors can be compared in tests.
public struct StaticStringBox: Sendable, Equatable, ExpressibleByStringLiteral {
    public let value: StaticString
    public init(stringLiteral value: StaticString) { self.value = value }
    public var text: String { value.description }
    public static func == (a: Self, b: Self) -> Bool { a.text == b.text }
}

public struct HeadLimits: Sendable {
    public var maxStartLine: Int
    public var maxHeadSize: Int
    public var maxHeaders: Int

    public init(maxStartLine: Int, maxHeadSize: Int, maxHeaders: Int) {
        self.maxStartLine = maxStartLine
        self.maxHeadSize = maxHeadSize
        self.maxHeaders = maxHeaders
    }
}

public enum HeadParseStatus: Sendable, Equatable {
    case needMore
    /// The head ends after `headLength` bytes; the body (if any) starts there.
    case complete(headLength: Int)
    case failed(HTTPParseError)
}
