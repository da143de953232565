/// Copies a final response while the I/O streams it to the client, keeping only the headers
/// worth replaying, and gives up (freeing what it held) once the copy passes `limit` bytes.
///
/// Replayed headers: Content-Type, Content-Encoding (the stored body is encoded with it),
/// Content-Language, Location, ETag, Last-Modified, Cache-Control, Link and X-* except X-Request-Id.
/// Never hop-by-hop or framing headers, and never Set-Cookie: a replay answers a retry, it must
/// not hand out a second session.
public final class ResponseRecorder {
    public let limit: Int
    private var status = 0
    private var reason: [UInt8] = []
    private var headerLines: [UInt8] = []
    private var body: [UInt8] = []
    public private(set) var isReplayable = true

    public init(limit: Int) {
        self.limit = limit
    }

    /// An upstream's final (non-1xx) head, as parsed from `p`.
    public func recordHead(_ head: ResponseHead, bytes p: UnsafePointer<UInt8>) {
        status = head.status
        add(UnsafeRawBufferPointer(start: p + head.reasonStart, count: head.reasonLength), to: .reason)
        for field in head.facts.fields where !ProxyHeadWriter.isNamedByConnection(field, head.facts, p) {
            recordHeader(name: UnsafeRawBufferPointer(start: p + Int(field.nameStart), count: Int(field.nameLength)),
                         value: UnsafeRawBufferPointer(start: p + Int(field.valueStart), count: Int(field.valueLength)))
        }
    }

    /// An upstream error the gateway rewrote: what the client gets is the envelope, so that is what a retry gets.
    public func recordRewritten(_ rendered: RenderedError) {
        status = rendered.status
        add(UnsafeRawBufferPointer(start: HTTPStatus.reason(rendered.status).utf8Start,
                                   count: HTTPStatus.reason(rendered.status).utf8CodeUnitCount), to: .reason)
        let contentType: StaticString = "Content-Type: application/json\r\n"
        add(UnsafeRawBufferPointer(start: contentType.utf8Start, count: contentType.utf8CodeUnitCount), to: .headerLines)
        if let challenge = rendered.wwwAuthenticate {
            Array("WWW-Authenticate: \(challenge)\r\n".utf8).withUnsafeBytes { add($0, to: .headerLines) }
        }
        rendered.body.withUnsafeBytes { append($0.baseAddress, count: $0.count) }
    }

    /// Keeps the field if it is worth replaying; anything else is ignored.
    public func recordHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard isReplayable, Self.isReplayed(name) else { return }
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

    /// Exact-size copies, so the store does not pay for the growth slack of the buffers.
    public func finish() -> RecordedResponse {
        guard isReplayable else { return .notReplayable(status: status) }
        return .replayable(StoredResponse(status: status, reason: Array(reason[...]),
                                          headerLines: Array(headerLines[...]), body: Array(body[...])))
    }

    private var size: Int { reason.count + headerLines.count + body.count }

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

    static func isReplayed(_ name: UnsafeRawBufferPointer) -> Bool {
        guard let p = name.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let n = name.count
        if n > 2, ByteClass.lower(p[0]) == UInt8(ascii: "x"), p[1] == UInt8(ascii: "-") {
            return !Bytes.equalsLowercase(p, n, "x-request-id")
        }
        return Bytes.equalsLowercase(p, n, "content-type") || Bytes.equalsLowercase(p, n, "content-encoding")
            || Bytes.equalsLowercase(p, n, "content-language") || Bytes.equalsLowercase(p, n, "location")
            || Bytes.equalsLowercase(p, n, "etag") || Bytes.equalsLowercase(p, n, "last-modified")
            || Bytes.equalsLowercase(p, n, "cache-control") || Bytes.equalsLowercase(p, n, "link")
    }
}
