/// What the stages know about the request in flight on one client connection. One instance per
/// connection, reset per request, so the per-request path allocates nothing.
public final class RequestContext {
    public var requestID: [UInt8] = []
    public var clientAddress: [UInt8] = []
    public var method: HTTPMethod = .get
    public var route: CompiledRoute?
    /// Header lines (each ending in CRLF) that stages add to whatever response the client gets.
    public let extraResponseHeaders = ByteBuffer(capacity: 256)
    public var monotonicMillis: UInt64 = 0
    public var wallMillis: UInt64 = 0

    public init() {
        requestID.reserveCapacity(128)
    }

    public func reset(method: HTTPMethod, monotonicMillis: UInt64, wallMillis: UInt64) {
        self.method = method
        self.monotonicMillis = monotonicMillis
        self.wallMillis = wallMillis
        route = nil
        extraResponseHeaders.clear()
    }

    public func addResponseHeader(_ name: StaticString, _ value: String) {
        extraResponseHeaders.append(name)
        extraResponseHeaders.append(": ")
        extraResponseHeaders.append(value)
        extraResponseHeaders.append("\r\n")
    }

    public var requestIDText: String { String(decoding: requestID, as: UTF8.self) }
}

/// How an exchange ended, for stages that hold resources until then.
public enum ExchangeOutcome: Sendable, Equatable {
    case rejected
    case completed(status: Int)
    case upstreamFailed
    case clientAborted
}
