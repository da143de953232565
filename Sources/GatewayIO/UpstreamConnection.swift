import CSystem
import GatewayCore
import Glibc

/// The events an upstream connection reports to the exchange that is using it.
protocol UpstreamDelegate: AnyObject {
    func upstreamConnected(_ upstream: UpstreamConnection)
    func upstreamFailed(_ upstream: UpstreamConnection, _ failure: UpstreamConnection.Failure)
    func upstreamReadable(_ upstream: UpstreamConnection)
    func upstreamWritable(_ upstream: UpstreamConnection)
}

/// A connection to one upstream server: connecting, lent to one exchange, or idle in its pool.
final class UpstreamConnection: EventHandler {
    enum Failure { case connectRefused(Int32), connectTimeout, responseTimeout, sendTimeout, io(Int32) }
    enum State { case connecting, active, idle, closed }

    let fd: Int32
    let loop: EventLoop
    let group: UpstreamGroup
    let server: UpstreamGroup.Server
    private(set) var state: State
    weak var delegate: UpstreamDelegate?
    var input: ByteBuffer?
    /// Starts small and grows on demand: 10,000 idle connections must not each pin 16 KiB.
    let output = WriteQueue(ownedCapacity: 2048)
    var readable = false
    var writable = false
    /// The server shut its side: after the data, a read will see EOF; no further edge will come.
    var hangup = false
    /// Nothing more will come from this connection: it read EOF or an error, or what it sent
    /// could not be parsed. Kept here, not on the exchange, so a retry on a fresh connection
    /// starts clean.
    var ended = false
    /// Writing the request failed (the server reset or closed its side, often right after an
    /// early answer): nothing more is sent, but what it said may still be read.
    var writeFailed = false
    /// When the socket last took request bytes: the send timeout counts from here.
    var lastWriteProgress: UInt64 = 0
    /// Requests served; a reused connection may have been closed by the server meanwhile.
    var requestsServed = 0
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(fd: Int32, loop: EventLoop, group: UpstreamGroup, server: UpstreamGroup.Server, connected: Bool) {
        self.fd = fd
        self.loop = loop
        self.group = group
        self.server = server
        state = connected ? .active : .connecting
        writable = connected
        loop.register(fd, self)
    }

    func setDeadline(after millis: Int64) {
        setDeadline(at: loop.now + UInt64(max(millis, 1)))
    }

    func setDeadline(at moment: UInt64) {
        if deadline == moment { return }
        deadline = moment
        loop.deadlineChanged(self)
    }

    func clearDeadline() {
        deadline = 0
        loop.deadlineChanged(self)
    }

    func handleEvent(_ flags: UInt32) {
        switch state {
        case .connecting:
            if flags & (CSYS_EPOLLOUT | CSYS_EPOLLERR | CSYS_EPOLLHUP) == 0 { return }
            let error = csys_socket_error(fd)
            if error != 0 {
                delegate?.upstreamFailed(self, .connectRefused(error))
                return
            }
            state = .active
            writable = true
            clearDeadline()
            delegate?.upstreamConnected(self)
        case .active:
            if flags & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 { readable = true }
            if flags & (CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 { hangup = true }
            if flags & CSYS_EPOLLOUT != 0 && !writable {
                writable = true
                delegate?.upstreamWritable(self)
            }
            if readable { delegate?.upstreamReadable(self) }
        case .idle:
            // An idle pooled connection has nothing to say: any event means the server closed it.
            if flags & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 {
                group.forgetIdle(self)
                close()
            }
        case .closed:
            return
        }
    }

    func deadlineExpired() {
        switch state {
        case .connecting: delegate?.upstreamFailed(self, .connectTimeout)
        // Still sending: the server stopped reading the request; otherwise it did not answer.
        case .active: delegate?.upstreamFailed(self, output.isEmpty ? .responseTimeout : .sendTimeout)
        case .idle:
            group.forgetIdle(self)
            close()
        case .closed: return
        }
    }

    /// Lends an idle connection to a new exchange.
    func activate(for delegate: UpstreamDelegate) {
        state = .active
        self.delegate = delegate
        lastWriteProgress = loop.now
        clearDeadline()
    }

    /// Returns the connection to its pool after a complete exchange, or closes it.
    func release() {
        delegate = nil
        requestsServed += 1
        if let buffer = input, buffer.readableCount == 0 {
            loop.returnBuffer(buffer)
            input = nil
        }
        // A server that said FIN (or anything at all) after a complete answer has ended this connection.
        guard state == .active, !hangup, !ended, !writeFailed, input == nil, output.isEmpty, group.keepIdle(self) else {
            close()
            return
        }
        state = .idle
        setDeadline(after: group.config.keepaliveTimeoutMs)
    }

    func close() {
        if state == .closed { return }
        state = .closed
        delegate = nil
        clearDeadline()
        output.reset()
        if let buffer = input {
            loop.returnBuffer(buffer)
            input = nil
        }
        loop.close(fd)
    }

    /// Reads what is available into the input buffer.
    func read() -> Socket.IOResult {
        if input == nil { input = loop.takeBuffer() }
        let buffer = input!
        if buffer.writableCount == 0 { return .bytes(0) }
        let result = Socket.read(fd, into: buffer)
        switch result {
        case .bytes(let n):
            // A short read drained the socket, unless a FIN is pending behind the data.
            if n < buffer.writableCount + n && !hangup { readable = false }
        case .wouldBlock:
            readable = false
        case .closed, .failed:
            readable = false
            ended = true
        }
        return result
    }

    func flush() -> WriteQueue.FlushResult {
        let before = output.totalWritten
        let result = output.flush(to: fd)
        if output.totalWritten != before { lastWriteProgress = loop.now }
        if case .blocked = result { writable = false }
        return result
    }
}
