/// Copies a final response while the I/O streams it to the client, keeping the header section
/// as the client received it, and gives up (freeing what it held) once the copy passes `limit` bytes.
///
/// Stored: every upstream field the client was sent, plus the original `X-Request-Id` (a replay
/// IS the original response, so it names the original request, in the header and in any error
/// envelope's `request_id`). Not stored, because a replay writes them fresh: `Date` and the
/// gateway's `RateLimit*` lines (the policy stages' extra headers), the upstream's own `RateLimit`,
/// `RateLimit-Policy` and `X-RateLimit-*` (they described its budget at the time), and
/// connection and framing fields (`Connection`, `Keep-Alive`, `Content-Length`,
/// `Transfer-Encoding`, ...), which the proxy never relays anyway.
public final class ResponseRecorder {
    public let limit: Int
    private let requestID: [UInt8]
    private var status = 0
    private var reason: [UInt8] = []
    private var headerLines: [UInt8] = []
    private var body: [UInt8] = []
    public private(set) var isReplayable = true

    /// `requestID` is the X-Request-Id the client is sent with this response.
    public init(limit: Int, requestID: [UInt8]) {
        self.limit = limit
        self.requestID = requestID
        add(requestID.count + Self.requestIDLineCost)
    }

    /// An upstream's final (non-1xx) head, as parsed from `p`.
    public func recordHead(_ head: ResponseHead, bytes p: UnsafePointer<UInt8>) {
        status = head.status
        add(UnsafeRawBufferPointer(start: p + head.reasonStart, count: head.reasonLength), to: .reason)
        for field in head.facts.fields where ProxyHeadWriter.isRelayed(field, head.facts, p) {
            recordHeader(name: UnsafeRawBufferPointer(start: p + Int(field.nameStart), count: Int(field.nameLength)),
                         value: UnsafeRawBufferPointer(start: p + Int(field.valueStart), count: Int(field.valueLength)))
        }
    }

    /// An upstream error the gateway rewrote: what the client gets is the envelope, so that is what a retry gets.
    public func recordRewritten(_ rendered: RenderedError) {
        status = rendered.status
        add(UnsafeRawBufferPointer(start: HTTPStatus.reason(rendered.status).utf8Start,
                                   count: HTTPStatus.reason(rendered.status).utf8CodeUnitCount), to: .reason)
        recordHeader("Content-Type", "application/json")
        if let seconds = rendered.retryAfterSeconds { recordHeader("Retry-After", String(seconds)) }
        if let challenge = rendered.wwwAuthenticate { recordHeader("WWW-Authenticate", challenge) }
        rendered.body.withUnsafeBytes { append($0.baseAddress, count: $0.count) }
    }

    private func recordHeader(_ name: StaticString, _ value: String) {
        var value = value
        value.withUTF8 { recordHeader(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount),
                                      value: UnsafeRawBufferPointer($0)) }
    }

    /// Keeps a field the client was sent unless a replay writes it fresh.
    public func recordHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard isReplayable, !Self.isPerResponse(name) else { return }
        add(name, to: .headerLines)
        add(UnsafeRawBufferPointer(start: Self.separator.utf8Start, count: 2), to: .headerLines)
        add(value, to: .headerLines)
        add(UnsafeRawBufferPointer(start: Self.lineEnd.utf8Start, count: 2), to: .headerLines)
    }

    /// Body payload bytes as the client receives them (after de-chunking).
    public func append(_ bytes: UnsafeRawPointer?, count: Int) {
        guard let bytes, count > 0 else { return }
        add(UnsafeRawBufferPointer(start: bytes, count: count), to: .body)
    }

    /// Exact-size copies, so the store does not pay for the growth slack of the buffers. The
    /// original X-Request-Id ends the header lines, where the client saw it.
    public func finish() -> RecordedResponse {
        guard isReplayable else { return .notReplayable(status: status) }
        var lines: [UInt8] = []
        lines.reserveCapacity(headerLines.count + requestID.count + Self.requestIDLineCost)
        lines.append(contentsOf: headerLines)
        lines.append(contentsOf: "X-Request-Id: ".utf8)
        lines.append(contentsOf: requestID)
        lines.append(contentsOf: "\r\n".utf8)
        return .replayable(StoredResponse(status: status, reason: Array(reason[...]), headerLines: lines, body: Array(body[...])))
    }

    /// "X-Request-Id: " and CRLF around the id.
    private static let requestIDLineCost = 16

    /// Counted from the start, so the limit covers what `finish` stores.
    private var reserved = 0

    private var size: Int { reserved + reason.count + headerLines.count + body.count }

    private func add(_ count: Int) { reserved += count }

    private enum Part { case reason, headerLines, body }

    private func add(_ bytes: UnsafeRawBufferPointer, to part: Part) {
        guard isReplayable else { return }
        guard size + bytes.count <= limit else {
            isReplayable = false
            reason = []
            headerLines = []
            body = []
            return
        }
        switch part {
        case .reason: reason.append(contentsOf: bytes)
        case .headerLines: headerLines.append(contentsOf: bytes)
        case .body: body.append(contentsOf: bytes)
        }
    }

    private static let separator: StaticString = ": "
    private static let lineEnd: StaticString = "\r\n"

    /// Fields a replay generates itself, or that described the upstream's state at the time.
    static func isPerResponse(_ name: UnsafeRawBufferPointer) -> Bool {
        guard let p = name.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return true }
        let n = name.count
        return Bytes.equalsLowercase(p, n, "x-request-id") || Bytes.equalsLowercase(p, n, "date")
            || Bytes.equalsLowercase(p, n, "idempotent-replayed")
            || Bytes.equalsLowercase(p, n, "ratelimit") || Bytes.equalsLowercase(p, n, "ratelimit-policy")
            || (n > 12 && Bytes.equalsLowercase(p, 12, "x-ratelimit-"))
    }
}
