import CSystem
import GatewayCore
import Glibc

/// One client connection: I/O glue around its `ExchangeMachine`. Events go in, and the actions
/// the machine returns (read, flush, connect, release, close) are performed here; every decision
/// about the requests on the connection is the machine's. On a TLS listener the handshake runs
/// first (`ClientConnection+Handshake.swift`) and the machine only starts once it is done.
final class ClientConnection: EventHandler {
    let fd: Int32
    let worker: WorkerContext
    var machine: ExchangeMachine
    var transport: Transport
    /// The TLS session while its handshake is not done yet; nil once requests may flow.
    var handshaking: TLSSession?
    /// The first bytes on a TLS listener have been looked at (a ClientHello, or plain HTTP?).
    var probed = false
    /// Waiting in the loop's queue for a handshake turn.
    var queuedForHandshake = false
    /// The readiness the handshake waits for (EPOLLIN until the first bytes, then what OpenSSL
    /// asked for): other edges would only make it ask again.
    var handshakeWaitsFor = CSYS_EPOLLIN
    /// The socket behind `machine.upstream`, while the machine holds one.
    private var upstream: UpstreamConnection?
    var deadline: UInt64 = 0
    var timer = TimerLink()
    /// `worker.loop`, kept here: it is reached several times per request.
    let loop: EventLoop
    /// Counts waits for the shared store, and closes: a reply for an earlier wait, or one that
    /// arrives after the connection closed, resumes nothing (`StoreWaiting`).
    private var storeWaits: UInt64 = 0

    /// `tls`: the listener's TLS context, nil on a plain listener. Fails (the socket is closed)
    /// only when OpenSSL cannot allocate a session.
    @discardableResult
    init?(fd: Int32, worker: WorkerContext, peer: SocketAddress, tls: TLSServerContext?) {
        self.fd = fd
        self.worker = worker
        loop = worker.loop
        machine = ExchangeMachine(environment: worker.environment, client: ClientLink(), clientAddress: Array(peer.hostText.utf8),
                                  proto: tls == nil ? "http" : "https", now: worker.loop.now)
        if let tls {
            guard let session = tls.session(fd: fd, scratch: worker.loop.tlsScratch) else {
                Glibc.close(fd)
                return nil
            }
            transport = .tls(session)
            handshaking = session
            deadline = worker.loop.now + tls.handshakeTimeoutMs
            worker.loop.deadlineChanged(self)
        } else {
            transport = .plain(PlainTransport(fd: fd, ring: worker.loop.ringSockets))
        }
        machine.client.owner = self
        // Accepted by the last accept of a drain: at most the request already sent is answered.
        if worker.draining { machine.beginDraining() }
        // Registering edge-triggered reports the socket writable at once: that first event drives
        // the machine (which arms the header timer from accept) or starts the handshake.
        worker.loop.register(fd, self, throughRing: tls == nil && worker.loop.ringSockets != nil)
        worker.loop.openConnections += 1
    }

    // MARK: Events

    func handleEvent(_ flags: UInt32) {
        if handshaking != nil {
            // A connection queued for a turn keeps its place; an edge that is not the one the
            // handshake waits for (registering reports writable at once) changes nothing.
            if queuedForHandshake || flags & (handshakeWaitsFor | CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) == 0 { return }
            stepHandshake()
            return
        }
        let (readable, writable) = transport.readiness(readable: flags & CSYS_EPOLLIN != 0, writable: flags & CSYS_EPOLLOUT != 0)
        machine.now = loop.now
        machine.clientEvent(readable: readable, writable: writable,
                            hangup: flags & CSYS_EPOLLRDHUP != 0, error: flags & (CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0)
        drive()
    }

    func deadlineExpired() {
        if handshaking != nil {
            // ssl_handshake_timeout: a client stalled mid-handshake is dropped without a word.
            closeSocket()
            return
        }
        machine.now = loop.now
        machine.clientTimerFired()
        drive()
    }

    // MARK: Reload and drain

    /// At a reload: an idle connection moves to the new configuration now.
    func adoptNewestEnvironment() {
        machine.adoptNewestEnvironment()
    }

    /// A connection still in its TLS handshake starts its machine (draining) once the handshake is done.
    func drain() {
        machine.now = loop.now
        machine.beginDraining()
        if handshaking == nil { drive() }
    }

    // MARK: Performing the machine's actions

    func drive() {
        while true {
            switch machine.next() {
            case .readClient:
                let client = machine.client
                if client.input == nil { client.input = loop.takeBuffer() }
                let room = client.input!.writableCount
                machine.clientRead(transport.read(into: client.input!), room: room)
                // TLS may have read the peer's close along with the data: epoll will not say it again.
                if transport.peerClosed { machine.clientEvent(readable: false, writable: false, hangup: true, error: false) }
            case .flushClient:
                machine.clientFlushed(transport.flush(machine.client.output))
            case .readUpstream:
                guard let upstream else { return }
                let room = upstream.link.input?.writableCount ?? loop.bufferSize
                machine.upstreamRead(upstream.read(), room: room)
                if upstream.peerClosed { machine.upstreamEvent(readable: false, writable: false, hangup: true) }
            case .flushUpstream:
                guard let upstream else { return }
                machine.upstreamFlushed(upstream.flush())
            case .connect(let group, let server, let verify):
                // The pools of the configuration the exchange runs on, which after a reload may not be the loop's newest.
                connect(pool: WorkerContext.generation(of: machine.environment).pools[group], server: server, verifyIdle: verify)
            case .releaseUpstream(let link):
                retire(link)?.release()
            case .closeUpstream(let link):
                retire(link)?.close()
            case .shutdownClientWrite:
                transport.shutdownWrite()
            case .closeClient:
                closeSocket()
                return
            case .wait:
                armTimers()
                releaseIdleBuffer()
                return
            }
        }
    }

    /// A pooled connection when there is one, a new one otherwise.
    private func connect(pool: UpstreamPool, server: Int, verifyIdle: Bool) {
        if let idle = pool.takeIdle(server, verified: verifyIdle) {
            idle.activate(for: self)
            upstream = idle
            machine.upstreamConnected(idle.link)
            return
        }
        switch Socket.connect(to: pool.addresses[server]) {
        case .success(let (fd, done)):
            let session: TLSSession?
            if let target = pool.tls[server] {
                guard let made = target.context.session(fd: fd, host: target.host, scratch: loop.tlsScratch) else {
                    Glibc.close(fd)
                    machine.upstreamConnectFailed(code: ENOMEM)
                    return
                }
                session = made
            } else {
                session = nil
            }
            let link = UpstreamLink(group: pool.group, server: pool.balancer.servers[server])
            let connection = UpstreamConnection(fd: fd, loop: loop, pool: pool, link: link, connected: done, tls: session)
            connection.delegate = self
            upstream = connection
            // A TLS connection is connected for the exchange only once its handshake is done.
            if done && session == nil { machine.upstreamConnected(link) } else { machine.upstreamConnecting(link) }
        case .failure(let error):
            machine.upstreamConnectFailed(code: error.code)
        }
    }

    private func retire(_ link: UpstreamLink) -> UpstreamConnection? {
        guard let connection = upstream, connection.link === link else { return nil }
        upstream = nil
        return connection
    }

    private func armTimers() {
        if machine.clientDeadline != deadline {
            deadline = machine.clientDeadline
            loop.deadlineChanged(self)
        }
        upstream?.setDeadline(at: machine.upstreamDeadline)
    }

    /// Idle keep-alive connections give their buffer and their request state back, so 10,000 idle
    /// clients cost little memory.
    private func releaseIdleBuffer() {
        guard case .idle = machine.state else { return }
        if let buffer = machine.client.input, buffer.readableCount == 0 {
            loop.returnBuffer(buffer)
            machine.client.input = nil
        }
        machine.parkIfIdle()
    }

    func closeSocket() {
        storeWaits &+= 1
        loop.openConnections -= 1
        upstream?.close()
        upstream = nil
        handshaking = nil
        deadline = 0
        loop.deadlineChanged(self)
        if let buffer = machine.client.input {
            loop.returnBuffer(buffer)
            machine.client.input = nil
        }
        transport.close()
        loop.close(fd)
        worker.clientClosed()
    }
}

extension ClientConnection: StoreWaiting {
    func beginStoreWait() -> UInt64 {
        storeWaits &+= 1
        return storeWaits
    }

    func isWaiting(_ stamp: UInt64) -> Bool {
        storeWaits == stamp && machine.state == .awaitingAdmission
    }

    /// Called on this loop's thread by its store client, once per wait.
    func storeAnswered(_ verdict: StageVerdict) {
        storeWaits &+= 1
        machine.now = loop.now
        machine.admissionResumed(verdict)
        drive()
    }
}

extension ClientConnection: UpstreamDelegate {
    func upstreamConnected(_ connection: UpstreamConnection) {
        guard connection === upstream else { return connection.close() }
        machine.now = loop.now
        machine.upstreamConnected(connection.link)
        drive()
    }

    func upstreamConnectFailed(_ connection: UpstreamConnection, code: Int32) {
        guard connection === upstream else { return connection.close() }
        machine.now = loop.now
        machine.upstreamConnectFailed(code: code)
        drive()
    }

    func upstreamReady(_ connection: UpstreamConnection, readable: Bool, writable: Bool, hangup: Bool) {
        guard connection === upstream else { return }
        machine.now = loop.now
        machine.upstreamEvent(readable: readable, writable: writable, hangup: hangup)
        drive()
    }

    func upstreamHandshakeFailed(_ connection: UpstreamConnection, reason: String) {
        guard connection === upstream else { return connection.close() }
        machine.now = loop.now
        machine.upstreamHandshakeFailed(reason: reason)
        drive()
    }

    func upstreamTimerFired(_ connection: UpstreamConnection) {
        guard connection === upstream else { return }
        machine.now = loop.now
        machine.upstreamTimerFired()
        drive()
    }
}
