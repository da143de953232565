import CSystem
import Glibc
import GatewayIO

/// The load side: `connections` sockets on one thread, each with one fixed-size message in
/// flight, until `total` round trips are done. Runs on its own thread (started from this file,
/// not main.swift, so the closure carries no main-actor isolation); writes a byte to `done` at the end.
enum EchoClient {
    static func start(port: UInt16, connections: Int, total: Int, messageSize: Int, done: Int32) {
        do {
            try Thread.start { run(port: port, connections: connections, total: total, messageSize: messageSize, done: done) }
        } catch {
            fatalError("cannot start the echo client thread: \(error)")
        }
    }

    private static func run(port: UInt16, connections: Int, total: Int, messageSize: Int, done: Int32) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let epfd = csys_epoll_create()
        let events = csys_epoll_events_alloc(256)!
        var fds: [Int32] = []
        var remaining = [Int](repeating: 0, count: connections)
        var got = [Int](repeating: 0, count: connections)
        let message = [UInt8](repeating: 0x61, count: messageSize)
        var sink = [UInt8](repeating: 0, count: 65536)
        for i in 0..<connections {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = csys_set_int_option(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            precondition(rc == 0, "client connect failed")
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            fds.append(fd)
            remaining[i] = total / connections + (i < total % connections ? 1 : 0)
            _ = csys_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, CSYS_EPOLLIN, UInt64(i))
        }
        var outstanding = total
        for i in 0..<connections where remaining[i] > 0 { _ = write(fds[i], message, messageSize) }
        while outstanding > 0 {
            let n = csys_epoll_wait(epfd, events, 256, 5000)
            precondition(n > 0, "client stalled with \(outstanding) round trips left")
            for e in 0..<Int(n) {
                let i = Int(csys_epoll_event_data(events, Int32(e)))
                let r = read(fds[i], &sink, sink.count)
                if r <= 0 { continue }
                got[i] += r
                while got[i] >= messageSize {
                    got[i] -= messageSize
                    remaining[i] -= 1
                    outstanding -= 1
                    if remaining[i] > 0 { _ = write(fds[i], message, messageSize) }
                }
            }
        }
        for fd in fds { close(fd) }
        close(epfd)
        csys_epoll_events_free(events)
        var byte: UInt8 = 1
        _ = write(done, &byte, 1)
    }
}
