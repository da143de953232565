/// A detail value inside `error.details`.
public enum ErrorDetail: Sendable, Equatable {
    case int(Int)
    case string(String)
    case bool(Bool)
    /// Already-valid JSON text, copied verbatim (upstream details carried through).
    case rawJSON([UInt8])
}

/// A gateway-produced error, before rendering. Throwable so filters can bail out with it.
public struct GatewayError: Error, Sendable {
    public var kind: GatewayErrorKind
    public var message: String
    /// Ordered: the envelope lists them in this order.
    public var details: [(String, ErrorDetail)]
    /// When set: the `Retry-After` header and `details.retry_after_s`.
    public var retryAfterSeconds: Int?
    /// A status other than the kind's, where configuration chooses it (422 for idempotency conflicts).
    public var statusOverride: Int?

    public init(_ kind: GatewayErrorKind, _ message: String, details: [(String, ErrorDetail)] = [], retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.message = message
        self.details = details
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// What goes on the wire: status line, optional `Retry-After` and `WWW-Authenticate`, JSON body.
public struct RenderedError: Sendable {
    public var status: Int
    public var retryAfterSeconds: Int?
    /// The challenge of a 401 (see `AuthChallenge`).
    public var wwwAuthenticate: String?
    public var body: [UInt8]

    public init(status: Int, retryAfterSeconds: Int?, wwwAuthenticate: String? = nil, body: [UInt8]) {
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.wwwAuthenticate = wwwAuthenticate
        self.body = body
    }
}

public enum ErrorEnvelope {
    /// `{"success":false,"error":{"code":..,"message":..,"details":{..},"request_id":".."}}`.
    /// `details` is omitted when empty. With `retryAfterSeconds`, `details.retry_after_s` carries the same value:
    /// an existing `retry_after_s` entry is rewritten in place, otherwise one is appended, so header and body never disagree.
    public static func encode(code: String, message: String, details: [(String, ErrorDetail)],
                              retryAfterSeconds: Int?, requestID: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(estimatedSize(code: code, message: message, details: details, requestID: requestID))
        out.append(contentsOf: prefix)
        JSONEscaping.appendQuoted(code, to: &out)
        out.append(contentsOf: messageKey)
        JSONEscaping.appendQuoted(message, to: &out)

        var retryWritten = false
        if !details.isEmpty || retryAfterSeconds != nil {
            out.append(contentsOf: detailsKey)
            var first = true
            for (key, value) in details {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONEscaping.appendQuoted(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if let retry = retryAfterSeconds, key == retryAfterKey {
                    JSONEscaping.appendInt(retry, to: &out)
                    retryWritten = true
                } else {
                    append(value, to: &out)
                }
            }
            if let retry = retryAfterSeconds, !retryWritten {
                if !first { out.append(UInt8(ascii: ",")) }
                JSONEscaping.appendQuoted(retryAfterKey, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONEscaping.appendInt(retry, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: requestIDKey)
        JSONEscaping.appendQuoted(requestID, to: &out)
        out.append(contentsOf: suffix)
        return out
    }

    public static func render(_ error: GatewayError, vocabulary: ErrorVocabulary, requestID: String) -> RenderedError {
        RenderedError(
            status: error.statusOverride ?? error.kind.status,
            retryAfterSeconds: error.retryAfterSeconds,
            body: encode(code: error.kind.code(in: vocabulary), message: error.message, details: error.details,
                         retryAfterSeconds: error.retryAfterSeconds, requestID: requestID))
    }

    static let retryAfterKey = "retry_after_s"
    private static let prefix: [UInt8] = Array(#"{"success":false,"error":{"code":"#.utf8)
    private static let messageKey: [UInt8] = Array(#","message":"#.utf8)
    private static let detailsKey: [UInt8] = Array(#","details":{"#.utf8)
    private static let requestIDKey: [UInt8] = Array(#","request_id":"#.utf8)
    private static let suffix: [UInt8] = Array("}}".utf8)

    private static func append(_ value: ErrorDetail, to out: inout [UInt8]) {
        switch value {
        case .int(let n): JSONEscaping.appendInt(n, to: &out)
        case .string(let s): JSONEscaping.appendQuoted(s, to: &out)
        case .bool(let b): out.append(contentsOf: b ? trueBytes : falseBytes)
        case .rawJSON(let raw): out.append(contentsOf: raw)
        }
    }

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)

    /// Unescaped sizes plus slack: exact for the common all-ASCII case, one regrowth at worst otherwise.
    private static func estimatedSize(code: String, message: String, details: [(String, ErrorDetail)], requestID: String) -> Int {
        var size = 112 + code.utf8.count + message.utf8.count + requestID.utf8.count
        for (key, value) in details {
            size += key.utf8.count + 4
            switch value {
            case .int, .bool: size += 20
            case .string(let s): size += s.utf8.count + 2
            case .rawJSON(let raw): size += raw.count
            }
        }
        return size
    }
}
