import CSystem
import GatewayCore
import Glibc

/// One admin request: read the head, answer, close. Given `timeoutMs` in all, then closed.
final class AdminConnection: EventHandler {
    static let timeoutMs: UInt64 = 10_000

    private let fd: Int32
    private let server: AdminServer
    private let transport: PlainTransport
    private let input: ByteBuffer
    private let output = OutputQueue(ownedCapacity: 4096)
    private var parser = RequestHeadParser(limits: HeadLimits(maxStartLine: 4096, maxHeadSize: 8192, maxHeaders: 64))
    private var answered = false
    private var closed = false
    var deadline: UInt64
    var timer = TimerLink()

    init(fd: Int32, server: AdminServer) {
        self.fd = fd
        self.server = server
        transport = PlainTransport(fd: fd)
        input = server.loop.takeBuffer()
        deadline = server.loop.now + Self.timeoutMs
        server.loop.register(fd, self)
        server.loop.deadlineChanged(self)
    }

    func handleEvent(_ flags: UInt32) {
        if !answered { read() }
        if answered && !closed { flush() }
    }

    func deadlineExpired() { finish() }

    private func read() {
        while !answered {
            switch transport.read(into: input) {
            case .bytes: break
            case .wouldBlock: return
            case .eof: return finish()
            }
            switch parser.parse(input.readPointer, count: input.readableCount) {
            case .complete:
                let head = parser.head
                let path = String(decoding: UnsafeBufferPointer(start: input.readPointer + head.pathStart, count: head.pathLength), as: UTF8.self)
                answer(server.endpoints.respond(method: head.method, path: path, requestID: server.nextRequestID(),
                                                nowMillis: Clock.monotonicMillis()), head: head.method == .head)
            case .failed:
                answer(server.endpoints.malformed(requestID: server.nextRequestID()), head: false)
            case .needMore:
                if input.writableCount == 0 { answer(server.endpoints.malformed(requestID: server.nextRequestID()), head: false) }
            }
        }
    }

    private func answer(_ response: AdminResponse, head: Bool) {
        answered = true
        var text = "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\nContent-Type: \(response.contentType)\r\n"
        for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(response.body.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        output.appendOwned(Array(text.utf8))
        if !head { output.appendOwned(response.body) }
    }

    private func flush() {
        switch transport.flush(output) {
        case .drained: finish()
        case .blocked: return
        case .failed: finish()
        }
    }

    private func finish() {
        if closed { return }
        closed = true
        deadline = 0
        server.loop.deadlineChanged(self)
        server.loop.returnBuffer(input)
        server.loop.close(fd)
        server.open -= 1
    }
}
