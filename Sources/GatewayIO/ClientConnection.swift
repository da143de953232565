import CSystem
import GatewayCore
import Glibc

/// One client connection and the exchange in flight on it. The state lives in fields; every
/// event (client or upstream readable/writable, connected, timed out) calls `pump()`, which
/// makes whatever progress the state allows. Requests on a connection are served one at a
/// time, so pipelined requests are answered in order.
final class ClientConnection: EventHandler {
    /// `closing` flushes the last answer; `lingering` then drains what the client still sends.
    enum Phase { case idle, readingHead, exchange, closing, lingering, closed }
    enum ResponsePhase { case awaitingHead, streaming, collecting, done }

    let fd: Int32
    let worker: WorkerContext
    var loop: EventLoop { worker.loop }
    var input: ByteBuffer?
    /// Starts small and grows on demand: 10,000 idle connections must not each pin 16 KiB.
    let output = WriteQueue(ownedCapacity: 2048)
    var parser: RequestHeadParser
    let context = RequestContext()
    var phase = Phase.idle
    var readable = true
    var writable = true
    var peerClosed = false
    /// The client shut its side (EPOLLRDHUP): keep reading until EOF, no further edge will come.
    var hangup = false
    var requestsServed = 0
    var deadline: UInt64 = 0
    var timer = TimerLink()
    /// Moments the timeouts count from (monotonic ms).
    var idleSince: UInt64
    var headStartedAt: UInt64 = 0
    var lastBodyProgress: UInt64 = 0
    var lastWriteProgress: UInt64 = 0
    /// The client may still be sending bytes nobody read (an early answer, a refused head):
    /// closing then goes through `lingering`, so the kernel sends FIN rather than a reset.
    var lingerOnClose = false
    var lingerStartedAt: UInt64 = 0
    var lastLingerRead: UInt64 = 0
    /// nginx's lingering_time and lingering_timeout.
    static let lingerTotalMs: UInt64 = 30_000
    static let lingerIdleMs: UInt64 = 5_000

    // The exchange in flight.
    var exchange = ExchangeState()
    var upstream: UpstreamConnection?
    var responseParser: ResponseHeadParser

    init(fd: Int32, worker: WorkerContext, peer: SocketAddress) {
        self.fd = fd
        self.worker = worker
        parser = RequestHeadParser(limits: worker.headLimits)
        responseParser = ResponseHeadParser(limits: worker.headLimits)
        context.clientAddress = Array(peer.hostText.utf8)
        idleSince = worker.loop.now
        worker.loop.register(fd, self)
    }

    // MARK: Events

    func handleEvent(_ flags: UInt32) {
        if phase == .closed { return }
        if flags & (CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 {
            abort("client connection error")
            return
        }
        if flags & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP) != 0 { readable = true }
        if flags & CSYS_EPOLLRDHUP != 0 { hangup = true }
        if flags & CSYS_EPOLLRDHUP != 0 && phase == .exchange && exchange.requestBodyDone {
            // nginx's behaviour: a client that closes while waiting has abandoned the request.
            abort("client closed the connection before the response completed")
            return
        }
        if flags & CSYS_EPOLLOUT != 0 { writable = true }
        pump()
    }

    func deadlineExpired() {
        if phase == .closed { return }
        let now = loop.now
        if !output.isEmpty && !writable {
            abort("send timeout: client not reading")
        } else if phase == .lingering {
            close()
        } else if phase == .readingHead {
            prepareUnparsedRequestContext()
            sendError(GatewayError(.requestTimeout, "Timed out waiting for the request headers"), close: true)
        } else if phase == .exchange && !exchange.requestBodyDone {
            failExchange(GatewayError(.requestTimeout, "Timed out waiting for the request body"))
        } else if phase == .idle {
            close()
        } else {
            updateDeadline()
            if deadline != 0 && deadline <= now { close() }
        }
        // Whatever was queued in answer (a 408, say) goes out now, not at the next event.
        pump()
    }

    /// Makes all the progress the current state allows.
    func pump() {
        var progressed = true
        while progressed && phase != .closed {
            progressed = false
            if !output.isEmpty && writable { progressed = flushOutput() || progressed }
            switch phase {
            case .idle, .readingHead:
                if output.isEmpty { progressed = pumpHead() || progressed }
            case .exchange:
                progressed = pumpRequestBody() || progressed
                progressed = pumpResponse() || progressed
            case .closing:
                if output.isEmpty { finishClosing() }
            case .lingering:
                drainLingering()
            case .closed:
                break
            }
        }
        if phase != .closed {
            updateDeadline()
            updateUpstreamDeadline()
            releaseIdleBuffer()
        }
    }

    // MARK: Reading and writing

    enum ReadOutcome { case read, nothing, closed }

    /// Reads what the client has sent into the free tail of the input buffer.
    func readClient() -> ReadOutcome {
        if !readable || peerClosed { return .nothing }
        if input == nil { input = loop.takeBuffer() }
        let buffer = input!
        if buffer.writableCount == 0 && !(upstream?.output.hasBorrowed ?? false) { buffer.compact() }
        if buffer.writableCount == 0 { return .nothing }
        let room = buffer.writableCount
        switch Socket.read(fd, into: buffer) {
        case .bytes(let n):
            if n < room && !hangup { readable = false }
            return n > 0 ? .read : .nothing
        case .wouldBlock:
            readable = false
            return .nothing
        case .closed:
            readable = false
            peerClosed = true
            return .closed
        case .failed:
            readable = false
            peerClosed = true
            return .closed
        }
    }

    /// Returns true when something was written.
    func flushOutput() -> Bool {
        switch output.flush(to: fd) {
        case .drained:
            lastWriteProgress = loop.now
            return true
        case .blocked:
            writable = false
            lastWriteProgress = loop.now
            return false
        case .failed:
            abort("write to client failed")
            return false
        }
    }

    // MARK: Deadlines

    func updateDeadline() {
        let limits = worker.limits
        var next: UInt64 = 0
        if !output.isEmpty && !writable {
            next = lastWriteProgress + UInt64(limits.sendTimeoutMs)
        } else {
            switch phase {
            // A connection that has not sent its first request gets the header timeout from accept.
            case .idle: next = idleSince + UInt64(requestsServed == 0 ? limits.headerTimeoutMs : limits.keepaliveTimeoutMs)
            case .readingHead: next = headStartedAt + UInt64(limits.headerTimeoutMs)
            case .exchange:
                let waitingForBody = exchange.idempotency?.isReplaying == true
                    || (exchange.upstreamReady && (upstream?.output.isEmpty ?? false))
                if !exchange.requestBodyDone && waitingForBody {
                    next = lastBodyProgress + UInt64(limits.bodyTimeoutMs)
                }
            case .closing: next = loop.now + UInt64(limits.sendTimeoutMs)
            case .lingering: next = min(lingerStartedAt + Self.lingerTotalMs, lastLingerRead + Self.lingerIdleMs)
            case .closed: next = 0
            }
        }
        if next != deadline {
            deadline = next
            loop.deadlineChanged(self)
        }
    }

    /// Upstream timeouts, counted while the gateway waits on the upstream (not on the client):
    /// the send timeout while request bytes wait for the server to take them (no write progress
    /// for `response_timeout`), the response timeout while the whole request is with it.
    func updateUpstreamDeadline() {
        guard let upstream, exchange.upstreamReady else { return }
        let timeout = UInt64(max(upstream.group.config.responseTimeoutMs, 1))
        if !upstream.output.isEmpty {
            upstream.setDeadline(at: upstream.lastWriteProgress + timeout)
            return
        }
        let waitingOnUpstream = (exchange.requestBodyDone || upstream.writeFailed)
            && exchange.responsePhase != .done && output.isEmpty
        if waitingOnUpstream {
            if upstream.deadline == 0 { upstream.setDeadline(after: upstream.group.config.responseTimeoutMs) }
        } else if upstream.deadline != 0 {
            upstream.clearDeadline()
        }
    }

    /// Idle keep-alive connections give their buffer back, so 10,000 idle clients cost little memory.
    private func releaseIdleBuffer() {
        if phase == .idle, let buffer = input, buffer.readableCount == 0 {
            loop.returnBuffer(buffer)
            input = nil
        }
    }

    // MARK: Closing

    /// The last answer is out. With unread client bytes possibly in flight, shut the write side
    /// and drain for a while (nginx's lingering close); otherwise close at once.
    private func finishClosing() {
        let unread = lingerOnClose || (input?.readableCount ?? 0) > 0
        if !unread || peerClosed {
            close()
            return
        }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        phase = .lingering
        lingerStartedAt = loop.now
        lastLingerRead = loop.now
        drainLingering()
    }

    /// Reads and discards until EOF (then closes) or until the socket is empty.
    private func drainLingering() {
        if input == nil { input = loop.takeBuffer() }
        let buffer = input!
        while phase == .lingering && readable {
            buffer.clear()
            switch Socket.read(fd, into: buffer) {
            case .bytes(let n):
                if n > 0 { lastLingerRead = loop.now }
            case .wouldBlock:
                readable = false
            case .closed, .failed:
                close()
            }
        }
    }

    /// Ends everything at once: the client is gone or the response cannot be completed.
    func abort(_ reason: String) {
        if phase == .exchange && (worker.accessLog || exchange.responseStarted) {
            Log.warn("request \(context.requestIDText) aborted: \(reason)")
        }
        close()
    }

    func close() {
        if phase == .closed { return }
        if phase == .exchange {
            upstream?.close()
            upstream = nil
            concludeStages(outcome: .clientAborted)
        }
        phase = .closed
        deadline = 0
        loop.deadlineChanged(self)
        output.reset()
        if let buffer = input {
            loop.returnBuffer(buffer)
            input = nil
        }
        loop.close(fd)
    }
}
