import CSystem
import GatewayCore
import Glibc

/// Thin wrappers over the socket calls the loops make, returning errno instead of throwing.
enum Socket {
    enum IOResult { case bytes(Int), wouldBlock, closed, failed(Int32) }

    static func listen(on address: SocketAddress, reusePort: Bool, backlog: Int32 = 4096) -> Result<Int32, SystemError> {
        let fd = csys_socket_stream(address.family)
        if fd < 0 { return .failure(SystemError("socket", csys_errno())) }
        _ = csys_set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        // [::]:P takes IPv6 only, as in nginx, so it and 0.0.0.0:P can both be listened on.
        if address.family == AF_INET6 { _ = csys_set_int_option(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
        if reusePort { _ = csys_set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
        let bound = address.withSockaddr { Glibc.bind(fd, $0, $1) }
        if bound != 0 {
            let e = csys_errno()
            close(fd)
            return .failure(SystemError("bind", e))
        }
        if Glibc.listen(fd, backlog) != 0 {
            let e = csys_errno()
            close(fd)
            return .failure(SystemError("listen", e))
        }
        return .success(fd)
    }

    /// Starts a non-blocking connect; `.success(true)` means it completed at once.
    static func connect(to address: SocketAddress) -> Result<(fd: Int32, done: Bool), SystemError> {
        let fd = csys_socket_stream(address.family)
        if fd < 0 { return .failure(SystemError("socket", csys_errno())) }
        _ = csys_set_int_option(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        let rc = address.withSockaddr { csys_connect(fd, $0, $1) }
        if rc == 0 { return .success((fd, true)) }
        let e = csys_errno()
        if e == EINPROGRESS { return .success((fd, false)) }
        close(fd)
        return .failure(SystemError("connect", e))
    }

    static func read(_ fd: Int32, into buffer: ByteBuffer) -> IOResult {
        let n = Glibc.read(fd, buffer.writePointer, buffer.writableCount)
        if n > 0 {
            buffer.writeIndex += n
            return .bytes(n)
        }
        if n == 0 { return .closed }
        let e = csys_errno()
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        if e == EINTR { return .bytes(0) }
        return .failed(e)
    }

    /// Whether an idle keep-alive connection is still quiet: no EOF, no reset and no unsolicited
    /// bytes waiting. Anything else means the server has closed or broken it.
    static func isQuiet(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let n = Glibc.recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n < 0 && (csys_errno() == EAGAIN || csys_errno() == EWOULDBLOCK)
    }

    static func writev(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int) -> IOResult {
        let n = Glibc.writev(fd, iov, Int32(count))
        if n >= 0 { return .bytes(n) }
        let e = csys_errno()
        if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
        if e == EINTR { return .bytes(0) }
        return .failed(e)
    }
}

public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    init(_ call: String, _ code: Int32) { self.call = call; self.code = code }
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
}
