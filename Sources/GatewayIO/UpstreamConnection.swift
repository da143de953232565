import CSystem
import GatewayCore
import Glibc

/// The events an upstream connection reports to the client connection that is using it.
protocol UpstreamDelegate: AnyObject {
    func upstreamConnected(_ upstream: UpstreamConnection)
    func upstreamConnectFailed(_ upstream: UpstreamConnection, code: Int32)
    func upstreamReady(_ upstream: UpstreamConnection, readable: Bool, writable: Bool, hangup: Bool)
    func upstreamTimerFired(_ upstream: UpstreamConnection)
}

/// A socket to one upstream server: connecting, lent to one exchange, or idle in its pool. What
/// the exchange sees of it is its `link` (buffers and readiness).
final class UpstreamConnection: EventHandler {
    enum State { case connecting, active, idle, closed }

    let fd: Int32
    let loop: EventLoop
    /// Changes when a reload hands the idle connection to the new configuration's pool.
    private(set) var pool: UpstreamPool
    let link: UpstreamLink
    private let transport: PlainTransport
    private(set) var state: State
    weak var delegate: UpstreamDelegate?
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(fd: Int32, loop: EventLoop, pool: UpstreamPool, link: UpstreamLink, connected: Bool) {
        self.fd = fd
        self.loop = loop
        self.pool = pool
        self.link = link
        transport = PlainTransport(fd: fd)
        state = connected ? .active : .connecting
        link.writable = connected
        loop.register(fd, self)
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
            state = .active
            link.writable = true
            delegate?.upstreamConnected(self)
        case .active:
            let hangup = flags & (CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0
            let readable = hangup || flags & CSYS_EPOLLIN != 0
            let writable = flags & CSYS_EPOLLOUT != 0 && !link.writable
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

    func deadlineExpired() {
        switch state {
        case .connecting, .active: delegate?.upstreamTimerFired(self)
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
        guard state == .active, link.input == nil, pool.keepIdle(self) else {
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
        loop.close(fd)
    }

    func read() -> ReadResult {
        if link.input == nil { link.input = loop.takeBuffer() }
        return transport.read(into: link.input!)
    }

    func flush() -> FlushResult { transport.flush(link.output) }

    private func returnIdleBuffer() {
        if let buffer = link.input, buffer.readableCount == 0 {
            loop.returnBuffer(buffer)
            link.input = nil
        }
    }
}
