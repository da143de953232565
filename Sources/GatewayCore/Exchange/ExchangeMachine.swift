import Glibc

/// The life of the requests on one client connection, as one sans-I/O state machine (in the
/// manner of h11 and SwiftNIO's state machines). The I/O layer feeds it events (bytes read,
/// flushed, upstream connected, timer fired) and performs the actions `next()` returns (read,
/// flush, connect, release, close); the machine never touches a socket or a clock.
///
/// Every state a request can be in, and every way out:
///
///     idle ──bytes──▶ readingHead ──head──▶ (stages) ──reject──▶ answered
///       ▲                 │ malformed/timeout ▶ closing          │ suspend ▶ awaitingAdmission ──resume──▶ (stages)
///       │                 ▼                                      │ replay  ▶ replaying ──body hashed──▶ answered
///       │             closed ◀─ EOF                              ▼ forward
///       │                                                    connecting ──connected──▶ forwarding(request, response)
///       │                                                      │ refused/timeout: next server, else answered(503/504)
///       │     forwarding: request leg  sending ▶ sent | abandoned (server stopped reading)
///       │                 response leg awaitingHead ▶ streaming | collecting (error rewrite) ▶ complete
///       │                 stale pooled connection ▶ connecting again (safe requests, once)
///       │                 failures ▶ answered (502/504) or, after the response started, closed
///       │                 101 to an allowed Upgrade ▶ tunnelling ──either side closes or idles──▶ answered (closes)
///       └──keep-alive── answered / forwarding(…, complete) ──flushed──▶ idle | closing ──▶ lingering ──▶ closed
///
/// Three decisions are made in one place each: keep-alive or close (`decideKeepAlive`), whether
/// a failed request may be sent again (`mayRetryOnFreshConnection`), and what the upstream may
/// have done with a request, which is how an Idempotency-Key settles (`upstreamEffect`).
public struct ExchangeMachine {
    public enum State: Equatable {
        /// Between requests. `fresh`: no request yet, so the header timeout applies, not keep-alive's.
        case idle(since: UInt64, fresh: Bool)
        /// Part of a request head has arrived.
        case readingHead(since: UInt64)
        /// A request-head stage suspended (a store round trip); `admissionResumed` continues.
        case awaitingAdmission
        /// Waiting for a connection to the upstream server chosen for this attempt.
        case connecting(since: UInt64)
        /// Request and response travel at once: an upstream may answer before the body is sent.
        case forwarding(RequestLeg, ResponseLeg)
        /// A stage answers this request itself (a settled Idempotency-Key): the body is read and
        /// hashed, never forwarded, then the stored answer is replayed or the request refused.
        case replaying
        /// The upstream switched protocols (101 to an allowed Upgrade): bytes pass both ways unread
        /// until either side closes or the tunnel idles for `response_timeout`.
        case tunnelling
        /// The whole answer is queued for the client; once flushed: idle (keep-alive) or closing.
        case answered
        /// The last bytes go out, then the connection closes (or lingers).
        case closing
        /// Write side shut: what the client still sends is read and dropped (nginx's lingering close).
        case lingering(since: UInt64, lastRead: UInt64)
        case closed
    }

    public enum RequestLeg: Equatable {
        /// Head and/or body bytes still on their way to the upstream.
        case sending
        /// Everything reached the upstream's socket: it may act on the request.
        case sent
        /// The upstream stopped taking the request (it answered early and closed, or reset).
        case abandoned
    }

    public enum ResponseLeg: Equatable {
        case awaitingHead
        /// Relaying the body to the client as it arrives.
        case streaming
        /// Gathering an error body so a stage (the error stage) can rewrite it into the envelope.
        case collecting
        /// The upstream's answer is complete (it may still be leaving the client's queue).
        case complete
        /// The upstream's error answer is complete and rewritten: the gateway sends the envelope.
        case rewritten
    }

    public internal(set) var state: State
    public let client: ClientLink
    public internal(set) var upstream: UpstreamLink?
    /// The configuration of the exchange under way; between requests the machine moves to the
    /// loop's newest one (`adoptNewestEnvironment`).
    public private(set) var environment: ExchangeEnvironment
    /// `X-Forwarded-Proto` for this listener: "http", or "https" once TLS terminates here.
    let proto: StaticString
    let clientAddress: [UInt8]
    /// Lent by the loop while a request is in progress (`acquireSlot`, `parkIfIdle`).
    var slot: UnsafeMutablePointer<ExchangeSlot>?
    var requestsServed = 0
    /// The gateway is shutting down: no response promises keep-alive any more (`beginDraining`).
    public private(set) var draining = false
    /// The client's bytes may still be arriving unread when the connection closes.
    var unreadClientBytes = false
    /// When the client deadline and the upstream deadline fall (monotonic ms, 0 = none); the I/O
    /// arms its timers from these whenever `next()` returns `.wait`.
    public internal(set) var clientDeadline: UInt64 = 0
    public internal(set) var upstreamDeadline: UInt64 = 0
    /// The I/O's clock, set before every event.
    public var now: UInt64

    public init(environment: ExchangeEnvironment, client: ClientLink, clientAddress: [UInt8], proto: StaticString = "http",
                now: UInt64) {
        self.environment = environment
        self.proto = proto
        self.client = client
        self.now = now
        self.clientAddress = clientAddress
        state = .idle(since: now, fresh: true)
        environment.metrics?.count(.connectionsOpened)
    }

    // The slot's parts, for the request in progress (there is one from its first byte on). Read and
    // modified in place (`_read`/`_modify`): a getter would copy the structs, arrays and all.
    var exchange: Exchange {
        _read { yield slot.unsafelyUnwrapped.pointee.exchange }
        _modify { yield &slot.unsafelyUnwrapped.pointee.exchange }
    }

    /// The lent slot itself: `current.pointee.parser` addresses one field in place (a computed
    /// property yielding the whole parser would copy it, arrays and all).
    var current: UnsafeMutablePointer<ExchangeSlot> { slot.unsafelyUnwrapped }

    public var context: RequestContext { slot.unsafelyUnwrapped.pointee.context }

    /// Borrows the loop's per-request state as the first byte of a request arrives.
    mutating func acquireSlot() {
        if slot != nil { return }
        let lent = environment.slots.take()
        lent.pointee.context.clientAddress = clientAddress
        client.output.attachStorage(lent.pointee.outputStorage)
        slot = lent
    }

    /// A connection idle for `parkAfterMs` with nothing queued and nothing unread gives its
    /// per-request state back to the loop: what 10,000 idle keep-alive connections cost is the
    /// machine and its links. Not at once: a client that sends its next request right away keeps it.
    public mutating func parkIfIdle() {
        guard let lent = slot, case .idle(let since, _) = state, now >= since + Self.parkAfterMs, client.output.isEmpty,
              (client.input?.readableCount ?? 0) == 0, upstream == nil, retiring == nil else { return }
        releaseSlot(lent)
    }

    static let parkAfterMs: UInt64 = 50

    /// The connection is gone: its slot goes back to the loop.
    mutating func releaseSlot(_ lent: UnsafeMutablePointer<ExchangeSlot>) {
        client.output.detachStorage()
        slot = nil
        environment.slots.give(lent)
    }

    public var isClosed: Bool { state == .closed }

    // MARK: Reload and shutdown

    /// Between requests, switches to the loop's newest environment; during an exchange, does
    /// nothing (the exchange finishes on its own, and the next request switches). The I/O calls
    /// it on idle connections at a reload, so they let go of the old configuration at once.
    public mutating func adoptNewestEnvironment() {
        guard case .idle = state, environment.successor != nil, client.output.isEmpty else { return }
        // A slot belongs to its environment's pool, and its parser to that configuration's limits.
        if let lent = slot { releaseSlot(lent) }
        environment = environment.newest
    }

    /// The gateway stops: the answer under way (if any) goes out with `Connection: close` and ends
    /// the connection, and a connection between requests closes once a last read finds nothing
    /// (a request already sent is answered). The I/O calls `next()` afterwards.
    public mutating func beginDraining() {
        draining = true
        if case .idle = state { client.readable = true }
    }

    // MARK: Events from the I/O

    /// Readiness of the client socket (epoll flags, or a TLS engine's wants).
    public mutating func clientEvent(readable: Bool, writable: Bool, hangup: Bool, error: Bool) {
        if state == .closed { return }
        if error {
            abort("client connection error")
            return
        }
        if readable || hangup { client.readable = true }
        if hangup { client.hangup = true }
        if writable { client.writable = true }
        // nginx's behaviour: a client that closes while waiting for its answer has abandoned it.
        if hangup {
            switch state {
            case .awaitingAdmission, .connecting, .forwarding:
                if exchange.requestDecoder.isDone { abort("client closed the connection before the response completed") }
            default:
                break
            }
        }
    }

    /// What reading from the client (into `client.input`, asked for by `.readClient`) gave.
    public mutating func clientRead(_ result: ReadResult, room: Int) {
        switch result {
        case .bytes(let n):
            if n < room && !client.hangup { client.readable = false }
        case .wouldBlock:
            client.readable = false
        case .eof:
            client.readable = false
            client.peerClosed = true
        }
    }

    /// What flushing `client.output` (asked for by `.flushClient`) gave.
    public mutating func clientFlushed(_ result: FlushResult) {
        switch result {
        case .drained:
            client.lastWriteProgress = now
        case .blocked(let progressed):
            // send_timeout runs between two writes, so from this one too when it found no room:
            // on a connection idle since its last write, the old moment would expire at once.
            if progressed || client.writable { client.lastWriteProgress = now }
            client.writable = false
        case .failed:
            abort("write to client failed")
        }
    }

    public mutating func upstreamEvent(readable: Bool, writable: Bool, hangup: Bool) {
        guard let upstream else { return }
        if readable || hangup { upstream.readable = true }
        if hangup { upstream.hangup = true }
        if writable { upstream.writable = true }
    }

    public mutating func upstreamRead(_ result: ReadResult, room: Int) {
        guard let upstream else { return }
        switch result {
        case .bytes(let n):
            // A short read drained the socket, unless a FIN is pending behind the data.
            if n < room && !upstream.hangup { upstream.readable = false }
            // The response timeout counts from the last sign of life.
            if n > 0 && exchange.upstreamWaitSince != 0 { exchange.upstreamWaitSince = now }
        case .wouldBlock:
            upstream.readable = false
        case .eof:
            upstream.readable = false
            upstream.ended = true
        }
    }

    public mutating func upstreamFlushed(_ result: FlushResult) {
        guard let upstream else { return }
        switch result {
        case .drained:
            upstream.lastWriteProgress = now
            if case .forwarding(.sending, let response) = state, exchange.requestDecoder.isDone {
                state = .forwarding(.sent, response)
            }
        case .blocked(let progressed):
            upstream.writable = false
            if progressed { upstream.lastWriteProgress = now }
        case .failed(let code):
            // Often the server answered early (413, 401) and closed without reading the body:
            // stop sending, and relay that answer if it is there.
            environment.log(.warn, "upstream \(environment.balancers[exchange.group].config.name) server \(upstream.server.label): "
                            + "request write failed: \(String(cString: strerror(code))), request \(context.requestIDText)")
            upstream.output.reset()
            if case .forwarding(_, let response) = state { state = .forwarding(.abandoned, response) }
            if state == .tunnelling { upstream.ended = true }
        }
    }

    /// A connect the I/O started for `.connect` completed at once or later, or a pooled one was lent.
    public mutating func upstreamConnected(_ link: UpstreamLink) {
        upstream = link
        link.lastWriteProgress = now
        startForwarding(on: link)
    }

    /// The I/O is connecting (non-blocking); `upstreamConnected` or `upstreamFailed` follows.
    public mutating func upstreamConnecting(_ link: UpstreamLink) {
        upstream = link
        state = .connecting(since: now)
    }

    /// The connect of this attempt was refused (at once, or later through SO_ERROR).
    public mutating func upstreamConnectFailed(code: Int32) {
        guard case .connecting = state, let server = exchange.server else { return }
        let name = environment.balancers[exchange.group].config.name
        environment.log(.warn, "upstream \(name) server \(server.label): connect: \(String(cString: strerror(code)))")
        serverFailed(server)
        if upstream != nil { retireUpstream(reusable: false) }
        connectNext()
    }

    /// The TLS handshake with the server of this attempt failed (its certificate did not verify,
    /// it does not speak TLS, it refused our client certificate). Like a refused connect the next
    /// server is tried; when none is left the answer is a 502 whose details carry `reason`.
    public mutating func upstreamHandshakeFailed(reason: String) {
        guard case .connecting = state, let server = exchange.server else { return }
        let name = environment.balancers[exchange.group].config.name
        environment.log(.warn, "upstream \(name) server \(server.label): TLS handshake failed: \(reason)")
        serverFailed(server)
        exchange.handshakeFailure = reason
        if upstream != nil { retireUpstream(reusable: false) }
        connectNext()
    }

    /// The client's transport is ready for requests (its TLS handshake is done): the header
    /// timeout of a connection that has sent nothing yet counts from now, not from accept.
    public mutating func transportReady() {
        if case .idle(_, true) = state { state = .idle(since: now, fresh: true) }
    }

    /// Answers `error` on a connection before any request was read (plain HTTP on a TLS port),
    /// then closes it.
    public mutating func refuseConnection(_ error: GatewayError) {
        guard case .idle = state else { return }
        // No byte went through the machine, so it holds no per-request state yet.
        acquireSlot()
        refuseUnparsed(error)
    }

    /// A stage that suspended admission has its answer.
    public mutating func admissionResumed(_ verdict: StageVerdict) {
        guard state == .awaitingAdmission else { return }
        resumeAdmission(with: verdict)
    }

    /// The client timer fired (the I/O armed it at `clientDeadline`).
    public mutating func clientTimerFired() {
        if state == .closed || clientDeadline == 0 || now < clientDeadline { return }
        if !client.output.isEmpty && !client.writable {
            abort("send timeout: client not reading")
            return
        }
        switch state {
        case .idle(let since, let fresh):
            // The first timer of an idle connection only parks its request state.
            let limits = environment.limits
            if slot != nil && now < since + UInt64(fresh ? limits.headerTimeoutMs : limits.keepaliveTimeoutMs) {
                parkIfIdle()
            } else {
                close()
            }
        case .lingering, .closing:
            close()
        case .readingHead:
            refuseUnparsed(GatewayError(.requestTimeout, "Timed out waiting for the request headers"))
        case .forwarding, .replaying, .connecting, .awaitingAdmission:
            if !exchange.requestDecoder.isDone {
                failExchange(GatewayError(.requestTimeout, "Timed out waiting for the request body"))
            }
        case .tunnelling, .answered, .closed:
            break
        }
    }

    /// The upstream timer fired: connect, send or response timeout, by what was being waited for.
    public mutating func upstreamTimerFired() {
        guard let upstream, upstreamDeadline != 0, now >= upstreamDeadline else { return }
        switch state {
        case .connecting: handleUpstreamTimeout(.connect)
        case .forwarding: handleUpstreamTimeout(upstream.output.isEmpty ? .response : .send)
        case .tunnelling: endTunnel("idle for the upstream's response_timeout")
        default: break
        }
    }

    // MARK: What to do next

    /// Makes every bit of progress that needs no I/O, and returns the next I/O to perform;
    /// `.wait` when only an event can move things on (the deadlines are then up to date).
    public mutating func next() -> ExchangeAction {
        while true {
            if let link = retiring {
                retiring = nil
                return retiringReusable ? .releaseUpstream(link) : .closeUpstream(link)
            }
            if state == .closed {
                if closeOwed {
                    closeOwed = false
                    return .closeClient
                }
                return .wait
            }
            if !client.output.isEmpty && client.writable && !bodyBytesToQueue { return .flushClient }
            let step: Step
            switch state {
            case .idle, .readingHead:
                step = client.output.isEmpty ? stepHead() : .wait
            case .awaitingAdmission:
                step = .wait
            case .connecting:
                if let (group, server, verify) = pendingConnect {
                    pendingConnect = nil
                    step = .act(.connect(group: group, server: server, verifyIdle: verify))
                } else {
                    step = .wait
                }
            case .forwarding:
                step = stepForwarding()
            case .replaying:
                step = stepReplayBody()
            case .tunnelling:
                step = stepTunnel()
            case .answered:
                step = client.output.isEmpty ? finishExchange() : .wait
            case .closing:
                step = client.output.isEmpty ? finishClosing() : .wait
            case .lingering:
                step = stepLingering()
            case .closed:
                step = .wait
            }
            switch step {
            case .progress: continue
            case .act(let action): return action
            case .wait:
                updateDeadlines()
                return .wait
            }
        }
    }

    /// A streamed response has body bytes read and not yet queued: queue them behind the head
    /// first, so head and body leave in one write (one TLS record) rather than two. Streaming
    /// flushes by itself once it runs out of bytes or the queue is crowded.
    private var bodyBytesToQueue: Bool {
        guard case .forwarding(_, .streaming) = state, !client.output.isCrowded else { return false }
        return (upstream?.input?.readableCount ?? 0) > 0
    }

    /// An upstream connection this exchange is done with, for the I/O to pool or close.
    var retiring: UpstreamLink?
    var retiringReusable = false
    /// The connection reached `closed`; the I/O has not closed the socket yet.
    var closeOwed = false
    /// The stage that answers this request once its body is read (`replaying`).
    var bodyAnswerer: (any BodyAnsweringStage)?
    /// The stage that collects the upstream's answer to rewrite it (`collecting`).
    var rewriter: (any ResponseRewritingStage)?
    /// The server `connecting` waits for, until `.connect` has been handed out.
    var pendingConnect: (group: Int, server: Int, verify: Bool)?

    enum Step {
        case progress
        case act(ExchangeAction)
        case wait
    }
}
