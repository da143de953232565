/// One active health check of one server, without I/O: the request it sends, what it makes of
/// the bytes that come back, and its outcome. The I/O layer connects, performs the steps and
/// reports what happened. A check is decided by the status line alone: the rest of the answer is
/// never read, and the connection (`Connection: close`) is dropped at once.
public struct HealthProbe {
    public enum Outcome: Equatable, Sendable {
        case passed(status: Int)
        /// Why, for the log.
        case failed(String)
    }

    /// What the I/O does next.
    public enum Step: Equatable {
        /// Write `unsent` to the socket, then report it with `didSend`.
        case send
        /// Wait until the socket is readable, then report the bytes with `received`.
        case receive
        case finished(Outcome)
    }

    private static let versionPrefix = Array("HTTP/1.".utf8)
    /// `HTTP/1.1 200 `: enough to know the status is three digits.
    private static let statusLineStart = 13

    let request: [UInt8]
    private(set) var sent = 0
    private var head: [UInt8] = []
    private let statuses: ClosedRange<Int>

    /// `host`: the server as configured (`host:port`), the Host a virtual-hosting upstream expects.
    public init(config: HealthCheckConfig, host: String) {
        request = Array("GET \(config.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: gateway-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8)
        statuses = config.statuses
    }

    /// The request bytes not written yet.
    public var unsent: ArraySlice<UInt8> { request[sent...] }

    public mutating func connected() -> Step { .send }

    public mutating func didSend(_ count: Int) -> Step {
        sent += count
        return sent < request.count ? .send : .receive
    }

    /// Bytes of the answer; decides as soon as the status code is there.
    public mutating func received(_ bytes: UnsafeRawBufferPointer) -> Step {
        head.append(contentsOf: bytes.prefix(Self.statusLineStart - head.count))
        guard head.starts(with: Self.versionPrefix.prefix(head.count)) else {
            return .finished(.failed("not an HTTP/1.x answer"))
        }
        if head.count < Self.statusLineStart { return .receive }
        guard let status = Self.status(head) else { return .finished(.failed("malformed status line")) }
        return .finished(statuses.contains(status) ? .passed(status: status) : .failed("status \(status)"))
    }

    /// The server closed (or reset) the connection.
    public func peerClosed() -> Step {
        .finished(.failed(sent < request.count ? "connection closed while sending the check"
                          : head.isEmpty ? "connection closed without an answer" : "connection closed inside the status line"))
    }

    /// `HTTP/1.D SSS` followed by a space (or the line's end, for servers that omit the reason phrase).
    private static func status(_ line: [UInt8]) -> Int? {
        let digit = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard digit.contains(line[7]), line[8] == UInt8(ascii: " "), line[12] == UInt8(ascii: " ") || line[12] == UInt8(ascii: "\r"),
              line[9...11].allSatisfy(digit.contains) else { return nil }
        return line[9...11].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
