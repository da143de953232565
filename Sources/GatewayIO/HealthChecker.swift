import CSystem
import GatewayCore
import Glibc

/// The active checks of one server, run by the one loop that owns them: every `interval` a new
/// non-blocking connection, one `GET path`, the status line, close. Driven by epoll and the
/// loop's timing wheel like any connection (the deadline is the next check while idle, the
/// check's timeout while one runs), so it never blocks the loop, and it never borrows a pooled
/// request connection. The verdict goes to the server's shared `ServerHealth`, which every
/// loop's balancer reads. A TLS server is checked over TLS, verified as requests are: a server
/// whose certificate would fail requests fails its checks too.
final class HealthChecker: EventHandler {
    private let loop: EventLoop
    private let health: ServerHealth
    private let address: SocketAddress
    private let config: HealthCheckConfig
    private let tls: UpstreamPool.TLSTarget?
    /// The check's TLS session (TLS servers), and whether its handshake is still under way.
    private var session: TLSSession?
    private var handshaking = false
    private var tally: HealthCheckTally
    /// The check under way, with its socket; nil between checks.
    private var probe: HealthProbe?
    private var step = HealthProbe.Step.send
    private var fd: Int32 = -1
    private var connecting = false
    private var startedAt: UInt64 = 0
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(loop: EventLoop, health: ServerHealth, address: SocketAddress, config: HealthCheckConfig, tls: UpstreamPool.TLSTarget?) {
        self.loop = loop
        self.health = health
        self.address = address
        self.config = config
        self.tls = tls
        tally = HealthCheckTally(fails: config.fails, passes: config.passes, isDown: health.isFailingChecks)
        // The first check goes out as soon as the loop runs.
        setDeadline(loop.now)
    }

    /// The checkers of every checked server this loop owns: servers are dealt to loops in turn,
    /// across all groups, so each server is checked by exactly one loop.
    static func start(for pools: [UpstreamPool], on loop: EventLoop, share: Int, of loops: Int) -> [HealthChecker] {
        var checkers: [HealthChecker] = []
        var ordinal = 0
        for pool in pools {
            guard let config = pool.config.healthCheck else { continue }
            for server in pool.balancer.servers {
                defer { ordinal += 1 }
                guard ordinal % loops == share else { continue }
                checkers.append(HealthChecker(loop: loop, health: server.health, address: pool.addresses[server.index], config: config,
                                              tls: pool.tls[server.index]))
            }
        }
        return checkers
    }

    /// A reload replaced the configuration whose checks these were: the check under way is
    /// dropped and no other starts (the new configuration's checker takes over).
    func stop() {
        if fd >= 0 {
            loop.close(fd)
            fd = -1
        }
        probe = nil
        setDeadline(0)
    }

    // MARK: Events

    func deadlineExpired() {
        if probe == nil {
            startCheck()
        } else {
            finish(.failed("no answer within \(config.timeoutMs) ms"))
        }
    }

    func handleEvent(_ flags: UInt32) {
        guard probe != nil else { return }
        if connecting {
            if flags & (CSYS_EPOLLOUT | CSYS_EPOLLERR | CSYS_EPOLLHUP) == 0 { return }
            let error = csys_socket_error(fd)
            if error != 0 { return finish(.failed("connect: \(String(cString: strerror(error)))")) }
            connecting = false
            return connected()
        }
        if handshaking { return stepHandshake() }
        advance()
    }

    // MARK: One check

    private func startCheck() {
        startedAt = loop.now
        probe = HealthProbe(config: config, host: health.configured)
        switch Socket.connect(to: address) {
        case .failure(let error):
            finish(.failed("\(error)"))
        case .success(let (socket, done)):
            fd = socket
            loop.register(fd, self)
            setDeadline(startedAt + UInt64(config.timeoutMs))
            connecting = !done
            if done { connected() }
        }
    }

    /// The socket is connected: a TLS server's handshake comes first.
    private func connected() {
        if let tls {
            guard let made = tls.context.session(fd: fd, host: tls.host, scratch: loop.tlsScratch) else {
                return finish(.failed("cannot make a TLS session"))
            }
            session = made
            handshaking = true
            return stepHandshake()
        }
        step = probe!.connected()
        advance()
    }

    private func stepHandshake() {
        guard let session else { return }
        switch session.handshake() {
        case .done:
            handshaking = false
            step = probe!.connected()
            advance()
        case .wantRead, .wantWrite:
            return
        case .failed(let reason):
            finish(.failed("TLS handshake: \(reason)"))
        }
    }

    /// Performs steps until the socket would block or the check is decided.
    private func advance() {
        while let current = probe {
            switch step {
            case .send:
                if let session {
                    switch current.unsent.withUnsafeBytes({ session.send($0) }) {
                    case .bytes(let n): step = probe!.didSend(n)
                    case .wouldBlock: return
                    case .closed: return finish(.failed("send: the server closed the connection"))
                    case .failed(let reason): return finish(.failed("send: \(reason)"))
                    }
                    continue
                }
                let n = current.unsent.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if wouldBlock() { return }
                    return finish(.failed("send: \(String(cString: strerror(csys_errno())))"))
                }
                step = probe!.didSend(n)
            case .receive:
                let decided: HealthProbe.Step? = withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { buffer in
                    if let session {
                        switch session.receive(into: buffer) {
                        case .bytes(let n): return probe!.received(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                        case .wouldBlock: return nil
                        case .closed, .failed: return current.peerClosed()
                        }
                    }
                    let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
                    if n > 0 { return probe!.received(UnsafeRawBufferPointer(rebasing: buffer[..<n])) }
                    if n == 0 || !wouldBlock() { return current.peerClosed() }
                    return nil
                }
                guard let decided else { return }
                step = decided
            case .finished(let outcome):
                return finish(outcome)
            }
        }
    }

    /// The check is decided: close its socket, count the result, and, when the server changes
    /// state, tell every loop through its shared health.
    private func finish(_ outcome: HealthProbe.Outcome) {
        session = nil
        handshaking = false
        if fd >= 0 {
            loop.close(fd)
            fd = -1
        }
        probe = nil
        connecting = false
        step = .send
        let server = "upstream \(health.upstream) server \(health.label)"
        switch outcome {
        case .passed:
            if tally.record(passed: true) == .cameUp {
                health.setFailingChecks(false)
                Log.info("\(server) passes its health checks again: \(config.passes) in a row; back in rotation")
            }
        case .failed(let reason):
            if tally.record(passed: false) == .wentDown {
                health.setFailingChecks(true)
                Log.warn("\(server) is failing its health checks: \(config.fails) in a row (last: \(reason)); out of rotation")
            }
        }
        // A steady cadence: the next check starts one interval after this one started.
        setDeadline(max(startedAt + UInt64(config.intervalMs), loop.now))
    }

    private func wouldBlock() -> Bool {
        let error = csys_errno()
        return error == EAGAIN || error == EWOULDBLOCK || error == EINTR
    }

    private func setDeadline(_ moment: UInt64) {
        deadline = moment
        loop.deadlineChanged(self)
    }
}
