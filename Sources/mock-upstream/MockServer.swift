#if canImport(Glibc)
import Glibc
#endif

struct MockConfig: Sendable {
    var host = "127.0.0.1"
    var port = 9000
    var dialect = MockDialect.snake
}

/// Listening socket and accept loop; every connection gets its own thread with blocking sockets.
enum MockServer {
    static func fail(_ message: String) -> Never {
        writeLine(2, "mock-upstream: \(message)")
        exit(1)
    }

    static func usage() -> Never {
        writeLine(1, "usage: mock-upstream [--host 127.0.0.1] [--port 9000] [--dialect snake|upper]")
        exit(0)
    }

    /// Unbuffered write of one line, so a test reading our stdout sees it at once.
    static func writeLine(_ fd: Int32, _ text: String) {
        let bytes = Array((text + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            if n > 0 { sent += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }

    /// Binds, prints the "listening" line, then accepts forever.
    static func run(_ config: MockConfig) -> Never {
        signal(SIGPIPE, SIG_IGN)
        let (listener, boundPort) = listen(config)
        writeLine(1, "mock-upstream listening on \(config.host):\(boundPort)")
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000); continue }
                fail("accept failed: errno \(errno)")
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let spawned = MockThread.spawn {
                MockConnection(fd: fd, config: config).run()
            }
            if !spawned { close(fd) }
        }
    }

    /// Returns the listening socket and the port it is bound to (useful with --port 0).
    private static func listen(_ config: MockConfig) -> (Int32, Int) {
        let host = config.host == "localhost" ? "127.0.0.1" : config.host
        let isV6 = host.contains(":")
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if fd < 0 { fail("socket failed: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let port = UInt16(clamping: config.port)
        var rc: Int32
        if isV6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { fail("invalid host \(config.host)") }
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { fail("invalid host \(config.host)") }
            rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if rc != 0 { fail("cannot bind \(config.host):\(config.port): errno \(errno)") }
        if Glibc.listen(fd, 1024) != 0 { fail("listen failed: errno \(errno)") }

        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let bound: UInt16 = withUnsafePointer(to: &storage) { pointer in
            isV6 ? pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port }
                 : pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }
        }
        return (fd, Int(UInt16(bigEndian: bound)))
    }
}
