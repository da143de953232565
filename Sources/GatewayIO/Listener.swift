import CSystem
import GatewayCore
import Glibc

/// Accepts client connections on one listening socket for one loop. When the process runs out
/// of descriptors it stops accepting for a moment (existing connections keep being served)
/// instead of spinning on a listener that is always readable.
final class Listener: EventHandler {
    let fd: Int32
    /// What the socket is bound to: a reload keeps the listeners of addresses it still has.
    let address: SocketAddress
    let worker: WorkerContext
    /// `listen ... ssl`: connections start with a TLS handshake (a reload may change it).
    var ssl: Bool
    var deadline: UInt64 = 0
    var timer = TimerLink()
    private var pausedForDescriptors = false
    private var warnedAboutDescriptors = false

    init(fd: Int32, address: SocketAddress, worker: WorkerContext, ssl: Bool) {
        self.fd = fd
        self.address = address
        self.worker = worker
        self.ssl = ssl
        worker.loop.register(fd, self, events: CSYS_EPOLLIN | CSYS_EPOLLET)
    }

    func handleEvent(_ flags: UInt32) {
        if !pausedForDescriptors { acceptAll() }
    }

    func deadlineExpired() {
        pausedForDescriptors = false
        acceptAll()
    }

    /// Stops listening (a reload that drops the address, or a drain). Connections the kernel has
    /// already completed are accepted first: closing the socket would reset them. The shutdown
    /// takes the socket out of LISTEN at once: under io_uring the ring still references the file
    /// after close() until its poll is cancelled, and a ring's teardown at exit runs after the
    /// process is gone, so without it a restart could find the port still bound.
    func close() {
        acceptAll()
        deadline = 0
        worker.loop.deadlineChanged(self)
        _ = shutdown(fd, Int32(SHUT_RDWR))
        worker.loop.close(fd)
    }

    private func acceptAll() {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = csys_accept(fd, &storage, &length)
            if client >= 0 {
                _ = csys_set_int_option(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                ClientConnection(fd: client, worker: worker, peer: SocketAddress(storage: storage, length: length),
                                 tls: ssl ? worker.serverTLS : nil)
                continue
            }
            let error = csys_errno()
            switch error {
            case EAGAIN, EWOULDBLOCK:
                return
            case EINTR, ECONNABORTED:
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                if !warnedAboutDescriptors {
                    Log.error("accept: \(String(cString: strerror(error))); pausing accepts, serving existing connections")
                    warnedAboutDescriptors = true
                }
                pausedForDescriptors = true
                deadline = worker.loop.now + 100
                worker.loop.deadlineChanged(self)
                return
            default:
                Log.error("accept: \(String(cString: strerror(error)))")
                return
            }
        }
    }
}
