import CSystem
import GatewayCore
import Glibc

/// Bytes over a plain TCP socket. The HTTP code above never learns whether it talks through this
/// or through TLS: both read into a connection's buffer and drain an `OutputQueue`.
struct PlainTransport {
    let fd: Int32
    /// The loop's ring when it moves this socket's bytes (the socket is registered `throughRing`);
    /// nil: read and writev.
    let ring: RingSockets?

    init(fd: Int32, ring: RingSockets? = nil) {
        self.fd = fd
        self.ring = ring
    }

    /// Reads into the free tail of `buffer`.
    func read(into buffer: ByteBuffer) -> ReadResult {
        if let ring { return ring.read(fd, into: buffer) }
        switch Socket.read(fd, into: buffer) {
        case .bytes(let n): return .bytes(n)
        case .wouldBlock: return .wouldBlock
        case .closed, .failed: return .eof
        }
    }

    /// Writes as much of `queue` as the socket takes, in as few writev calls as possible. The iovec
    /// array lives on the stack for the call, so idle connections carry none.
    func flush(_ queue: OutputQueue) -> FlushResult {
        if let ring { return ring.send(fd, queue) }
        let before = queue.totalWritten
        return withUnsafeTemporaryAllocation(of: iovec.self, capacity: OutputQueue.maxSegments) { iov in
            while !queue.isEmpty {
                let n = queue.gather(into: iov.baseAddress!, capacity: OutputQueue.maxSegments)
                switch Socket.writev(fd, iov.baseAddress!, n) {
                case .bytes(let written):
                    queue.consume(written)
                case .wouldBlock:
                    return .blocked(progressed: queue.totalWritten != before)
                case .failed(let e):
                    return .failed(e)
                case .closed:
                    return .failed(EPIPE)
                }
            }
            return .drained
        }
    }

    func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }
}
