import CSystem
import Glibc

/// Echo the way today's EventLoop serves a client: sockets registered once, edge-triggered for
/// IN|OUT|RDHUP, each readiness event read until EAGAIN, the bytes written back at once.
/// Counts its own syscalls.
enum EpollEcho {
    static func serve(listener: Int32, echoes target: Int, messageSize: Int) -> (syscalls: Int, echoes: Int) {
        let epfd = csys_epoll_create()
        let events = csys_epoll_events_alloc(256)!
        defer { close(epfd); csys_epoll_events_free(events) }
        _ = csys_epoll_ctl(epfd, EPOLL_CTL_ADD, listener, CSYS_EPOLLIN | CSYS_EPOLLET, UInt64(UInt32(bitPattern: listener)))
        var buffer = [UInt8](repeating: 0, count: 16384)
        var syscalls = 0
        var echoedBytes = 0
        var clients: [Int32] = []
        while echoedBytes < target * messageSize {
            let n = csys_epoll_wait(epfd, events, 256, 5000)
            syscalls += 1
            precondition(n > 0, "epoll echo stalled")
            for e in 0..<Int(n) {
                let fd = Int32(truncatingIfNeeded: csys_epoll_event_data(events, Int32(e)))
                if fd == listener {
                    while true {
                        var storage = sockaddr_storage()
                        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                        let client = csys_accept(listener, &storage, &length)
                        syscalls += 1
                        if client < 0 { break }
                        clients.append(client)
                        syscalls += 1
                        _ = csys_epoll_ctl(epfd, EPOLL_CTL_ADD, client,
                                           CSYS_EPOLLIN | CSYS_EPOLLOUT | CSYS_EPOLLRDHUP | CSYS_EPOLLET, UInt64(client))
                    }
                    continue
                }
                guard csys_epoll_event_flags(events, Int32(e)) & CSYS_EPOLLIN != 0 else { continue }
                while true {
                    let r = read(fd, &buffer, buffer.count)
                    syscalls += 1
                    if r <= 0 { break }
                    let w = write(fd, buffer, r)
                    syscalls += 1
                    precondition(w == r, "short echo write")
                    echoedBytes += r
                }
            }
        }
        for fd in clients { close(fd) }
        return (syscalls, echoedBytes / messageSize)
    }
}
