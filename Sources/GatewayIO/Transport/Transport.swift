import GatewayCore

/// The bytes of one connection, plain or through TLS. An enum rather than a protocol: the per-read
/// and per-write calls stay direct, with no existential on the hot path.
enum Transport {
    case plain(PlainTransport)
    case tls(TLSSession)

    func read(into buffer: ByteBuffer) -> ReadResult {
        switch self {
        case .plain(let plain): plain.read(into: buffer)
        case .tls(let session): session.read(into: buffer)
        }
    }

    func flush(_ queue: OutputQueue) -> FlushResult {
        switch self {
        case .plain(let plain): plain.flush(queue)
        case .tls(let session): session.flush(queue)
        }
    }

    /// The peer has said its last word though the socket may not report it again: TLS's
    /// close_notify, or a failure found while reading. The I/O tells the machine as a hangup.
    var peerClosed: Bool {
        switch self {
        case .plain: false
        case .tls(let session): session.peerClosed
        }
    }

    /// epoll readiness as the HTTP side should hear it: under TLS a read may wait for the socket to
    /// become writable and a write for it to become readable.
    func readiness(readable: Bool, writable: Bool) -> (readable: Bool, writable: Bool) {
        switch self {
        case .plain: (readable, writable)
        case .tls(let session):
            (readable || (writable && session.readWantsWrite), writable || (readable && session.writeWantsRead))
        }
    }

    /// Ends the sending side: TLS's close_notify first, then the TCP FIN.
    func shutdownWrite() {
        switch self {
        case .plain(let plain): plain.shutdownWrite()
        case .tls(let session):
            session.sendCloseNotify()
            PlainTransport(fd: session.fd).shutdownWrite()
        }
    }

    /// Before the socket closes: a healthy TLS connection says close_notify.
    func close() {
        if case .tls(let session) = self { session.sendCloseNotify() }
    }
}
