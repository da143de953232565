import CSystem
import GatewayCore
import Glibc

/// The admin listener (`admin_listen`): its own socket, epoll loop and thread, so a scrape never
/// runs on a worker loop and waits for nothing a worker holds. One request per connection.
final class AdminServer: EventHandler {
    /// Connections beyond this are closed at once: the admin port is for a few scrapers and probes.
    static let maxConnections = 64

    let loop: EventLoop
    let endpoints: AdminEndpoints
    private let fd: Int32
    private var ids = RequestIDGenerator(seed: UInt64.random(in: .min ... .max))
    var open = 0
    var deadline: UInt64 = 0
    var timer = TimerLink()

    /// Binds exclusively (an address another process or a `listen` holds is refused), before the
    /// rest of the start, so a bad address fails it.
    static func bind(_ address: SocketAddress) throws(SystemError) -> Int32 {
        switch Socket.listen(on: address, reusePort: false, backlog: 128) {
        case .success(let fd): return fd
        case .failure(let error): throw SystemError("admin_listen: \(error.call) \(address)", error.code)
        }
    }

    init(fd: Int32, endpoints: AdminEndpoints) throws(SystemError) {
        loop = try EventLoop(bufferSize: 16 << 10)
        self.fd = fd
        self.endpoints = endpoints
    }

    func start() throws(SystemError) {
        let server = Handoff(self)
        try Thread.start {
            server.value.loop.register(server.value.fd, server.value, events: CSYS_EPOLLIN | CSYS_EPOLLET)
            server.value.loop.run()
        }
    }

    func handleEvent(_ flags: UInt32) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = csys_accept(fd, &storage, &length)
            if client < 0 {
                if csys_errno() == EINTR || csys_errno() == ECONNABORTED { continue }
                return
            }
            if open >= Self.maxConnections {
                close(client)
                continue
            }
            open += 1
            _ = AdminConnection(fd: client, server: self)
        }
    }

    func deadlineExpired() {}

    func nextRequestID() -> String {
        var id = [UInt8](repeating: 0, count: RequestIDGenerator.length)
        id.withUnsafeMutableBufferPointer { ids.next(nowMillis: Clock.wallMillis(), into: $0.baseAddress!) }
        return String(decoding: id, as: UTF8.self)
    }

    /// The server on its way to its own thread, the only one to touch it afterwards.
    private final class Handoff: @unchecked Sendable {
        let value: AdminServer
        init(_ value: AdminServer) { self.value = value }
    }
}
