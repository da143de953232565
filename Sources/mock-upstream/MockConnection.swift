#if canImport(Glibc)
import Glibc
#endif
import GatewayCore

/// One accepted socket, served by one thread with blocking calls: read a head, consume the body,
/// answer, repeat. Pipelined requests simply wait in `input` until their turn.
final class MockConnection {
    enum HeadResult {
        case request(MockRequest)
        case closed
        case failed(HTTPParseError)
    }

    enum BodyResult { case complete, eof, malformed }

    enum Framing { case length(Int), chunked, close, bodiless }

    let fd: Int32
    let config: MockConfig
    private let input = ByteBuffer(capacity: 16 * 1024)
    private var parser = RequestHeadParser(limits: HeadLimits(maxStartLine: 8 * 1024, maxHeadSize: 64 * 1024, maxHeaders: 256))
    /// Set once the socket was closed by a fault (reset), so `run` does not close it again.
    private var socketGone = false

    /// Per-exchange response headers added by the router (request count, delay).
    var requestCount = 0
    var delayMs: Int?

    init(fd: Int32, config: MockConfig) {
        self.fd = fd
        self.config = config
    }

    func run() {
        while true {
            requestCount = MockStats.shared.total
            delayMs = nil
            switch readHead() {
            case .closed:
                break
            case .failed(let error):
                let status: Int
                switch error {
                case .headersTooLarge: status = 431
                case .requestLineTooLong: status = 414
                case .notImplemented: status = 501
                case .malformed: status = 400
                }
                let body = MockErrors.body(code: MockErrors.code("invalid_request", "VALIDATION_ERROR", config.dialect),
                                           message: "malformed request: \(error.reason)", dialect: config.dialect)
                _ = respond(status: status, contentType: "application/json", body: body, keepAlive: false, version: .http11)
            case .request(let request):
                if MockRoutes.handle(request, on: self) { continue }
            }
            break
        }
        if !socketGone { gracefulClose() }
    }

    // MARK: reading

    /// Reads more bytes into `input`; false on EOF or error.
    private func fill() -> Bool {
        if input.readableCount == 0 { input.clear() } else if input.writableCount < 4096 { input.compact() }
        input.reserve(16 * 1024)
        while true {
            let n = recv(fd, input.writePointer, input.writableCount, 0)
            if n > 0 { input.writeIndex += n; return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    private func readHead() -> HeadResult {
        parser.reset()
        while true {
            if input.readableCount > 0 {
                switch parser.parse(UnsafePointer(input.readPointer), count: input.readableCount) {
                case .needMore:
                    break
                case .failed(let error):
                    return .failed(error)
                case .complete(let headLength):
                    let request = MockRequest(head: parser.head, bytes: UnsafePointer(input.readPointer))
                    input.readIndex += headLength
                    return .request(request)
                }
            }
            if !fill() { return .closed }
        }
    }

    /// Streams the request body through `sink` without buffering it whole.
    func consumeBody(_ request: MockRequest, _ sink: (UnsafeRawBufferPointer) -> Void) -> BodyResult {
        if request.framing == .none { return .complete }
        if request.expectContinue && request.version == .http11 {
            let line: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"
            if !writeAll(line.utf8Start, line.utf8CodeUnitCount) { return .eof }
        }
        var decoder = BodyDecoder(framing: request.framing)
        while true {
            switch decoder.next(UnsafePointer(input.readPointer), count: input.readableCount) {
            case .data(let offset, let length, let consumed):
                sink(UnsafeRawBufferPointer(start: input.readPointer + offset, count: length))
                input.readIndex += consumed
            case .needMore(let consumed):
                input.readIndex += consumed
                if !fill() { return .eof }
            case .end(let consumed):
                input.readIndex += consumed
                return .complete
            case .failed:
                return .malformed
            }
        }
    }

    /// Keeps reading and discarding until the peer closes (the `stall` fault).
    /// `GET /v1/tunnel` with `Upgrade: P`: answers 101 for P, then echoes every byte until the peer
    /// closes (a stand-in for a WebSocket server); without an Upgrade field, 426.
    func switchToEchoTunnel(_ ex: MockExchange) -> Bool {
        guard let upgrade = ex.request.headers.first(where: { String(decoding: $0.name, as: UTF8.self).lowercased() == "upgrade" }) else {
            return reply(ex, status: 426, contentType: "text/plain", body: Array("Upgrade required\n".utf8), extra: [("Upgrade", "echo")])
        }
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: \(String(decoding: upgrade.value, as: UTF8.self))\r\n"
            + "Connection: Upgrade\r\nX-Mock-Tunnel: echo\r\n\r\n"
        guard writeAll(Array(head.utf8)) else { return false }
        // Bytes that came with the request head are the tunnel's first.
        if input.readableCount > 0 && !writeAll(input.readPointer, input.readableCount) { return false }
        input.clear()
        while fill() {
            if !writeAll(input.readPointer, input.readableCount) { return false }
            input.clear()
        }
        return false
    }

    /// Reads nothing more, answers nothing, until the peer closes or resets (the `wedge` fault).
    func wedgeUntilPeerCloses(maxMs: Int) {
        let peerShutdown: Int16 = 0x2000  // POLLRDHUP, which Glibc's module leaves out (_GNU_SOURCE)
        var waited = 0
        while waited < maxMs {
            var entry = pollfd(fd: fd, events: peerShutdown, revents: 0)
            if poll(&entry, 1, 100) > 0 && entry.revents & (peerShutdown | Int16(POLLHUP | POLLERR)) != 0 { return }
            waited += 100
        }
    }

    func drainUntilPeerCloses() {
        input.clear()
        while fill() { input.clear() }
    }

    // MARK: writing

    func writeAll(_ pointer: UnsafeRawPointer, _ count: Int) -> Bool {
        var sent = 0
        while sent < count {
            let n = send(fd, pointer + sent, count - sent, Int32(MSG_NOSIGNAL))
            if n > 0 { sent += n; continue }
            if n < 0 && errno == EINTR { continue }
            return false
        }
        return true
    }

    func writeAll(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in raw.count == 0 || writeAll(raw.baseAddress!, raw.count) }
    }

    func writeAll(_ buffer: ByteBuffer) -> Bool {
        let ok = writeAll(buffer.readPointer, buffer.readableCount)
        buffer.clear()
        return ok
    }

    /// Appends the status line and headers (ending with the blank line) to `out`.
    func appendHead(to out: ByteBuffer, status: Int, contentType: String?, framing: Framing,
                    keepAlive: Bool, version: HTTPVersion, extra: [(String, String)] = []) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(status)
        out.append(byte: 0x20)
        out.append(Self.reason(status))
        out.append("\r\nServer: mock-upstream\r\n")
        if let contentType {
            out.append("Content-Type: ")
            out.append(contentType)
            out.append("\r\n")
        }
        switch framing {
        case .length(let n):
            out.append("Content-Length: ")
            out.appendDecimal(n)
            out.append("\r\n")
        case .chunked:
            out.append("Transfer-Encoding: chunked\r\n")
        case .close, .bodiless:
            break
        }
        out.append("X-Mock-Request-Count: ")
        out.appendDecimal(requestCount)
        out.append("\r\n")
        if let delayMs {
            out.append("X-Mock-Delay-Ms: ")
            out.appendDecimal(delayMs)
            out.append("\r\n")
        }
        for (name, value) in extra {
            out.append(name)
            out.append(": ")
            out.append(value)
            out.append("\r\n")
        }
        if case .close = framing {
            out.append("Connection: close\r\n")
        } else if !keepAlive {
            out.append("Connection: close\r\n")
        } else if version == .http10 {
            out.append("Connection: keep-alive\r\n")
        }
        out.append("\r\n")
    }

    /// GatewayCore's phrases, with generic ones for the 2xx/3xx it does not list.
    static func reason(_ status: Int) -> StaticString {
        switch status {
        case 202: return "Accepted"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 418: return "I'm a teapot"
        case 200..<300 where status != 201 && status != 204: return "OK"
        case 300..<400: return "Redirection"
        default: return HTTPStatus.reason(status)
        }
    }

    /// Writes a complete Content-Length response; returns whether the connection stays open.
    func respond(status: Int, contentType: String?, body: [UInt8], keepAlive: Bool, version: HTTPVersion,
                 headOnly: Bool = false, extra: [(String, String)] = []) -> Bool {
        // 204 and 304 never carry a body (RFC 9110 §15.3.5, §15.4.5), whatever a fault asked for.
        let bodiless = status == 204 || status == 304
        let out = ByteBuffer(capacity: 512 + (headOnly ? 0 : body.count))
        appendHead(to: out, status: status, contentType: bodiless ? nil : contentType,
                   framing: status == 204 ? .bodiless : .length(bodiless ? 0 : body.count),
                   keepAlive: keepAlive, version: version, extra: extra)
        if !headOnly && !bodiless { out.append(body) }
        return writeAll(out) && keepAlive
    }

    // MARK: closing

    /// FIN first, then read what the peer still sends for a moment, so a close never becomes an RST
    /// that could destroy a response still in flight.
    func gracefulClose() {
        if socketGone { return }
        socketGone = true
        shutdown(fd, Int32(SHUT_WR))
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 4096)
        var total = 0
        while total < 1 << 20 {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            total += n
        }
        close(fd)
    }

    /// Closes with SO_LINGER 0 so the kernel sends RST instead of FIN.
    func abortiveClose() {
        if socketGone { return }
        socketGone = true
        var lingerOption = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lingerOption, socklen_t(MemoryLayout<linger>.size))
        close(fd)
    }
}
