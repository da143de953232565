import CSystem
import GatewayCore
import Glibc

/// The events an upstream connection reports to the client connection that is using it.
protocol UpstreamDelegate: AnyObject {
    func upstreamConnected(_ upstream: UpstreamConnection)
    func upstreamConnectFailed(_ upstream: UpstreamConnection, code: Int32)
    func upstreamHandshakeFailed(_ upstream: UpstreamConnection, reason: String)
    func upstreamReady(_ upstream: UpstreamConnection, readable: Bool, writable: Bool, hangup: Bool)
    func upstreamTimerFired(_ upstream: UpstreamConnection)
}

/// A socket to one upstream server: connecting (then, for a TLS server, handshaking), lent to one
/// exchange, or idle in its pool. What the exchange sees of it is its `link` (buffers and
/// readiness); the connect timeout covers the TLS handshake too, as in nginx.
final class UpstreamConnection: EventHandler {
    enum State { case connecting, handshaking, active, idle, closed }

    let fd: Int32
    let loop: EventLoop
    /// Changes when a reload hands the idle connection to the new configuration's pool.
    private(set) var pool: UpstreamPool
    let link: UpstreamLink
    private let transport: Transport
    private(set) var state: State
    /// The client connection using it. Strong, not weak (a weak load costs a side-table lookup on
    /// every event): the cycle lasts only while the exchange holds the connection, and `release`
    /// and `close`, one of which ends every such hold, break it.
    var delegate: UpstreamDelegate?
    var deadline: UInt64 = 0
    var timer = TimerLink()

    /// `tls`: the session for a TLS server; its handshake starts once the socket is connected
    /// (registering reports a connected socket writable at once).
    init(fd: Int32, loop: EventLoop, pool: UpstreamPool, link: UpstreamLink, connected: Bool, tls: TLSSession?) {
        self.fd = fd
        self.loop = loop
        self.pool = pool
        self.link = link
        let ring = tls == nil ? loop.ringSockets : nil
        transport = tls.map { .tls($0) } ?? .plain(PlainTransport(fd: fd, ring: ring))
        let ready = connected && tls == nil
        state = ready ? .active : .connecting
        link.writable = ready
        // Through the ring once connected; a connect in progress is waited for by readiness.
        loop.register(fd, self, throughRing: ready && ring != nil)
    }

    func setDeadline(at moment: UInt64) {
        if deadline == moment { return }
        deadline = moment
        loop.deadlineChanged(self)
    }

    func handleEvent(_ flags: UInt32) {
        switch state {
        case .connecting:
            if flags & (CSYS_EPOLLOUT | CSYS_EPOLLERR | CSYS_EPOLLHUP) == 0 { return }
            let error = csys_socket_error(fd)
            if error != 0 {
                delegate?.upstreamConnectFailed(self, code: error)
                return
            }
            if case .tls = transport {
                state = .handshaking
                stepHandshake()
                return
            }
            state = .active
            link.writable = true
            if case .plain(let plain) = transport, plain.ring != nil { loop.moveToRing(fd) }
            delegate?.upstreamConnected(self)
        case .handshaking:
            stepHandshake()
        case .active:
            let hangup = flags & (CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0
            let (readable, writable) = transport.readiness(readable: hangup || flags & CSYS_EPOLLIN != 0,
                                                           writable: flags & CSYS_EPOLLOUT != 0 && !link.writable)
            if readable || writable { delegate?.upstreamReady(self, readable: readable, writable: writable, hangup: hangup) }
        case .idle:
            // An idle pooled connection has nothing to say: any event means the server closed it.
            if flags & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 {
                pool.forgetIdle(self)
                close()
            }
        case .closed:
            return
        }
    }

    /// One non-blocking handshake step; the next readiness event takes the next one.
    private func stepHandshake() {
        guard case .tls(let session) = transport else { return }
        switch session.handshake() {
        case .done:
            state = .active
            link.writable = true
            delegate?.upstreamConnected(self)
        case .wantRead, .wantWrite:
            return
        case .failed(let reason):
            delegate?.upstreamHandshakeFailed(self, reason: reason)
        }
    }

    func deadlineExpired() {
        switch state {
        case .connecting, .handshaking, .active: delegate?.upstreamTimerFired(self)
        case .idle:
            pool.forgetIdle(self)
            close()
        case .closed: return
        }
    }

    /// Moves an idle connection to the same server in the pool of a newer configuration.
    func rebind(to pool: UpstreamPool, server: Int) {
        self.pool = pool
        link.rebind(group: pool.group, server: pool.balancer.servers[server])
    }

    /// Lends an idle connection to a new exchange.
    func activate(for delegate: UpstreamDelegate) {
        state = .active
        self.delegate = delegate
        link.reused = true
        setDeadline(at: 0)
    }

    /// Returns the connection to its pool after a complete exchange, or closes it.
    func release() {
        delegate = nil
        returnIdleBuffer()
        // Decrypted bytes still inside OpenSSL would be a stray answer to the next request.
        if case .tls(let session) = transport, session.hasPendingBytes { return close() }
        guard state == .active, link.input == nil, ringHoldsNothing, pool.keepIdle(self) else {
            close()
            return
        }
        state = .idle
        setDeadline(at: loop.now + UInt64(max(pool.config.keepaliveTimeoutMs, 1)))
    }

    func close() {
        if state == .closed { return }
        state = .closed
        delegate = nil
        setDeadline(at: 0)
        link.output.reset()
        if let buffer = link.input {
            loop.returnBuffer(buffer)
            link.input = nil
        }
        transport.close()
        loop.close(fd)
    }

    func read() -> ReadResult {
        if link.input == nil { link.input = loop.takeBuffer() }
        let result = transport.read(into: link.input!)
        if case .tls(let session) = transport, let failure = session.failure { link.failure = failure }
        return result
    }

    func flush() -> FlushResult { transport.flush(link.output) }

    /// Still quiet while idle in the pool: nothing waiting in the socket, nor in what the ring
    /// already took from it.
    var isQuiet: Bool { ringHoldsNothing && Socket.isQuiet(fd) }

    /// No unread bytes, EOF or error the ring received for this socket (true off the ring).
    private var ringHoldsNothing: Bool {
        guard case .plain(let plain) = transport, let ring = plain.ring else { return true }
        return ring.isQuiet(fd)
    }

    /// The server's TLS close (or a failure) was read with the data: no further event will say so.
    var peerClosed: Bool { transport.peerClosed }

    private func returnIdleBuffer() {
        if let buffer = link.input, buffer.readableCount == 0 {
            loop.returnBuffer(buffer)
            link.input = nil
        }
    }
}
