import CSystem
import GatewayCore
import Glibc

/// One connection to one Redis node on one event loop, an `EventHandler` like an upstream
/// connection: a non-blocking connect (then a TLS handshake, with `tls`), the greeting (`HELLO 3`
/// with `AUTH`, falling back to RESP2 and `AUTH` on a server without `HELLO`; `SELECT`; `SCRIPT
/// LOAD` of the gateway's scripts), then pipelined commands whose replies are matched to them in
/// order. Commands queued before the greeting is over wait for it. Its one deadline is the
/// oldest command's (or the connect's): when it passes, the connection is given up and every
/// command on it fails, since no later reply can be trusted to match.
final class RedisConnection: EventHandler {
    enum State { case connecting, handshaking, greeting, ready, closed }

    private(set) var state: State
    /// The store's index of the node this connects to.
    let node: Int
    private let fd: Int32
    private unowned let store: LoopStore
    private let transport: Transport
    private let input: ByteBuffer
    private let output = OutputQueue(ownedCapacity: 16 << 10)
    /// Sent, in order, from `head` on.
    private var pending: [StorePending] = []
    private var head = 0
    /// Queued before the greeting ended.
    private var unsent: [StorePending] = []
    private var greetingLeft = 0
    private let connectDeadline: UInt64
    private var writable = false
    var deadline: UInt64 = 0
    var timer = TimerLink()

    /// Starts connecting; a connect that fails at once is a `SystemError`.
    static func open(to address: SocketAddress, host: String, node: Int, store: LoopStore) -> Result<RedisConnection, SystemError> {
        switch Socket.connect(to: address) {
        case .failure(let error): return .failure(error)
        case .success(let (fd, done)):
            var session: TLSSession?
            if let tls = store.tls {
                guard let made = tls.session(fd: fd, host: host, scratch: store.loop.tlsScratch) else {
                    Glibc.close(fd)
                    return .failure(SystemError("TLS session", ENOMEM))
                }
                session = made
            }
            return .success(RedisConnection(fd: fd, connected: done, session: session, node: node, store: store))
        }
    }

    private init(fd: Int32, connected: Bool, session: TLSSession?, node: Int, store: LoopStore) {
        self.fd = fd
        self.node = node
        self.store = store
        transport = session.map { .tls($0) } ?? .plain(PlainTransport(fd: fd))
        input = store.loop.takeBuffer()
        state = .connecting
        connectDeadline = store.loop.now + UInt64(store.settings.connectTimeoutMs)
        store.loop.register(fd, self)
        updateDeadline()
    }

    /// Commands sent or waiting to be.
    var queued: Int { pending.count - head + unsent.count }

    /// Sends `command` (once the greeting is over); the store flushes at the end of the iteration.
    func enqueue(_ command: StorePending) {
        if state == .ready { write(command) } else { unsent.append(command) }
        updateDeadline()
    }

    /// Writes what is queued, as far as the socket takes it.
    func flush() {
        guard state == .ready || state == .greeting, writable, !output.isEmpty else { return }
        switch transport.flush(output) {
        case .drained: break
        case .blocked: writable = false
        case .failed(let code): fail("write: \(String(cString: strerror(code)))")
        }
    }

    // MARK: Events

    func handleEvent(_ flags: UInt32) {
        switch state {
        case .connecting:
            if flags & (CSYS_EPOLLOUT | CSYS_EPOLLERR | CSYS_EPOLLHUP) == 0 { return }
            let error = csys_socket_error(fd)
            if error != 0 { return fail("connect: \(String(cString: strerror(error)))") }
            writable = true
            if case .tls = transport {
                state = .handshaking
                return stepHandshake()
            }
            greet()
        case .handshaking:
            stepHandshake()
        case .greeting, .ready:
            if flags & CSYS_EPOLLOUT != 0 {
                writable = true
                flush()
            }
            if flags & (CSYS_EPOLLIN | CSYS_EPOLLRDHUP | CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0 { readAll() }
        case .closed:
            return
        }
    }

    func deadlineExpired() {
        guard state != .closed, deadline != 0, store.loop.now >= deadline else { return }
        let ready = state == .ready
        fail(ready ? "no reply within \(store.settings.commandTimeoutMs) ms" : "no connection within \(store.settings.connectTimeoutMs) ms",
             timedOut: ready)
    }

    // MARK: Greeting

    private func stepHandshake() {
        guard case .tls(let session) = transport else { return }
        switch session.handshake() {
        case .done: greet()
        case .wantRead, .wantWrite: return
        case .failed(let reason): fail("TLS handshake: \(reason)")
        }
    }

    private func greet() {
        state = .greeting
        var words = ["HELLO", "3"]
        if let password = store.endpoint.password { words += ["AUTH", "default", password] }
        greetingLeft = 1
        write(greeting(words, hello: true))
        flush()
    }

    /// After `HELLO` (or instead of it, on a server that predates it): the rest of the greeting.
    private func greetAfterHello(authenticate: Bool) {
        var commands: [[String]] = []
        if authenticate, let password = store.endpoint.password { commands.append(["AUTH", password]) }
        if store.endpoint.database != 0 { commands.append(["SELECT", String(store.endpoint.database)]) }
        for script in StoreScripts.all { commands.append(["SCRIPT", "LOAD", script.source]) }
        greetingLeft = commands.count
        for words in commands { write(greeting(words, hello: false)) }
        flush()
    }

    private func greeting(_ words: [String], hello: Bool) -> StorePending {
        StorePending(purpose: .greeting(hello: hello), command: RESPCommand(words).bytes, slot: 0, deadline: connectDeadline,
                     queuedAtMicros: store.loop.clock.micros)
    }

    private func greeted(_ reply: RESPValue, hello: Bool) {
        if hello {
            if case .error = reply {
                // A server without HELLO (before Redis 6) says so; any other refusal is final.
                guard reply.isError("ERR") || reply.isError("NOPROTO") else { return fail("HELLO: \(reply.errorText ?? "")") }
                return greetAfterHello(authenticate: true)
            }
            return greetAfterHello(authenticate: false)
        }
        if let text = reply.errorText { return fail("greeting: \(text)") }
        greetingLeft -= 1
        guard greetingLeft == 0 else { return }
        state = .ready
        let waiting = unsent
        unsent = []
        for command in waiting { write(command) }
        flush()
        updateDeadline()
        store.connectionReady(self)
    }

    // MARK: Replies

    private func write(_ command: StorePending) {
        output.appendOwned(command.command)
        pending.append(command)
    }

    private func readAll() {
        while state != .closed {
            if input.writableCount == 0 {
                input.compact()
                if input.writableCount == 0 { input.reserve(input.capacity) }
            }
            switch transport.read(into: input) {
            case .bytes:
                parse()
            case .wouldBlock:
                updateDeadline()
                return
            case .eof:
                parse()
                return fail("the server closed the connection")
            }
        }
    }

    private func parse() {
        while state != .closed, input.readableCount > 0 {
            switch RESPParser.parse(input.readPointer, count: input.readableCount) {
            case .value(let value, let consumed):
                input.readIndex += consumed
                replied(value)
            case .needMore:
                return
            case .invalid(let reason):
                return fail("unreadable reply: \(reason)")
            }
        }
        // A failure above gave the buffer back to the loop: it may be someone else's by now.
        if state != .closed && input.readableCount == 0 { input.clear() }
    }

    private func replied(_ value: RESPValue) {
        // Out-of-band data (RESP3 push) answers no command.
        if case .push = value { return }
        guard head < pending.count else { return fail("a reply to no command") }
        let command = pending[head]
        head += 1
        if head == pending.count {
            pending.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= pending.count {
            pending.removeFirst(head)
            head = 0
        }
        if case .greeting(let hello) = command.purpose { return greeted(value, hello: hello) }
        store.replied(command, value)
    }

    private func updateDeadline() {
        var next: UInt64 = state == .ready ? 0 : connectDeadline
        if head < pending.count, case let oldest = pending[head].deadline, next == 0 || oldest < next { next = oldest }
        if let first = unsent.first, next == 0 || first.deadline < next { next = first.deadline }
        if state == .closed { next = 0 }
        if next != deadline {
            deadline = next
            store.loop.deadlineChanged(self)
        }
    }

    // MARK: The end

    /// Gives up the connection; every command on it fails with `reason`.
    func fail(_ reason: String, timedOut: Bool = false) {
        guard state != .closed else { return }
        state = .closed
        updateDeadline()
        transport.close()
        store.loop.close(fd)
        store.loop.returnBuffer(input)
        output.reset()
        let failed = pending[head...].filter { if case .greeting = $0.purpose { false } else { true } } + unsent
        pending = []
        unsent = []
        head = 0
        store.connectionFailed(self, reason: reason, commands: failed, timedOut: timedOut)
    }
}
