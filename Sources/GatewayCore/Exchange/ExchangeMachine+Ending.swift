import Glibc

/// How exchanges end: the gateway's own answers, upstream failures, the keep-alive decision, the
/// stages' completion and the Idempotency-Key settlement, and closing the connection.
extension ExchangeMachine {
    // MARK: The gateway's own answers

    mutating func answer(_ error: GatewayError, close: Bool, outcome: ExchangeOutcome?) {
        if !responseStarted { exchange.errorKind = error.kind }
        answer(environment.pipeline.render(error, context: context), close: close, outcome: outcome)
    }

    /// Queues a complete answer (an error envelope, or an upstream error rewritten into one) and
    /// ends the exchange. Once a response has started, only closing is left.
    mutating func answer(_ rendered: RenderedError, close: Bool, outcome: ExchangeOutcome?) {
        if responseStarted {
            abort("\(rendered.status) after the response started")
            return
        }
        writeLocal(rendered, close: close)
        conclude(outcome ?? .completed(status: rendered.status))
        state = .answered
    }

    /// A request that never parsed (or never came in time) gets a fresh id, its envelope, and a close.
    mutating func refuseUnparsed(_ error: GatewayError) {
        environment.reset(context, method: .get, now: now)
        environment.mintRequestID(for: context)
        exchange = Exchange()
        let rendered = environment.pipeline.render(error, context: context)
        writeLocal(rendered, close: true)
        observeUnparsed(rendered, error.kind)
        current.pointee.parser.reset()
        // What else the client sent is unknown: close through lingering.
        unreadClientBytes = true
        state = .closing
    }

    private mutating func writeLocal(_ rendered: RenderedError, close: Bool) {
        if let seconds = rendered.retryAfterSeconds { context.addResponseHeader("Retry-After", String(seconds)) }
        if let challenge = rendered.wwwAuthenticate { context.addResponseHeader("WWW-Authenticate", challenge) }
        decideKeepAlive(closeRequested: close)
        let directive = ProxyHeadWriter.ConnectionDirective(keep: exchange.keepAlive, clientVersion: exchange.clientVersion)
        let out = client.output.ownedBuffer
        let start = out.writeIndex
        context.requestID.withUnsafeBytes { id in
            let extra = context.extraResponseHeaders.readableBytes
            ProxyHeadWriter.writeLocalResponse(status: rendered.status, reason: HTTPStatus.reason(rendered.status),
                                               contentLength: exchange.method == .head ? 0 : rendered.body.count,
                                               requestID: id, connection: directive, extraHeaders: extra, into: out)
        }
        if exchange.method != .head { out.append(rendered.body) }
        client.output.commitOwned(from: start)
        exchange.status = rendered.status
    }

    /// The body has been read: the stage that asked for it answers (a replay, or a refusal).
    mutating func answerFromBody() {
        guard let stage = bodyAnswerer else { return }
        bodyAnswerer = nil
        switch stage.answer(afterBody: context) {
        case .error(let error):
            answer(error, close: false, outcome: .rejected)
        case .replay(let stored):
            decideKeepAlive(closeRequested: false)
            let directive = ProxyHeadWriter.ConnectionDirective(keep: exchange.keepAlive, clientVersion: exchange.clientVersion)
            let out = client.output.ownedBuffer
            let start = out.writeIndex
            IdempotencyReplay.write(stored, connection: directive, extraHeaders: context.extraResponseHeaders.readableBytes, into: out)
            client.output.commitOwned(from: start)
            exchange.status = stored.status
            conclude(.completed(status: stored.status))
            state = .answered
        }
    }

    /// Whether any byte of a response head has been queued for the client.
    var responseStarted: Bool {
        switch state {
        case .forwarding(_, .streaming), .forwarding(_, .complete), .tunnelling, .answered, .closing, .lingering, .closed:
            return true
        default: return false
        }
    }

    // MARK: The three decisions

    /// Keep-alive or close, decided once, when the response head is written: the client must
    /// want it (and `keepalive_requests` allow it), still be there, have sent its whole request
    /// (an unread body cannot be skipped safely), the answer must not be delimited by close, and
    /// the gateway must not be draining.
    mutating func decideKeepAlive(closeRequested: Bool) {
        exchange.keepAlive = !closeRequested && !draining && exchange.clientKeepAlive && !client.peerClosed
            && exchange.requestDecoder.isDone
    }

    /// Safe to send again on a fresh connection after a pooled one turned out dead: nothing about
    /// it can have taken effect twice, and the head is still at hand.
    var mayRetryOnFreshConnection: Bool {
        exchange.method.isIdempotent && exchange.headLength > 0 && exchange.requestDecoder.isDone && exchange.attempts < 3
    }

    /// What the upstream may have done with the request, decided here and only here (the
    /// idempotency stage settles its key by it): a relayed final answer to a fully read request;
    /// a request it may have acted on without a complete answer (all of it reached its socket,
    /// part of an answer came, or it stopped reading after taking some bytes); or nothing.
    // Inlined: called from mutating code, a non-mutating method gets a memcpy of the machine as its self.
    @inline(__always) func upstreamEffect(mayHaveActed: Bool) -> UpstreamEffect {
        guard case .forwarding(let request, let response) = state else { return .none }
        if (response == .complete || response == .rewritten) && exchange.requestDecoder.isDone { return .answered }
        if request == .sent || response != .awaitingHead || mayHaveActed { return .unknown }
        return .none
    }

    /// Tells the filter chain how the request ended, exactly once (the pipeline forgets the
    /// admitted stages as it tells them, so a second call does nothing).
    mutating func conclude(_ outcome: ExchangeOutcome, mayHaveActed: Bool = false) {
        guard slot != nil else { return }
        let end = ExchangeEnd(outcome: outcome, upstreamEffect: upstreamEffect(mayHaveActed: mayHaveActed),
                              requestRead: exchange.requestDecoder.isDone, wallMillis: environment.wallClock())
        environment.pipeline.complete(context, end: end)
    }

    // MARK: Upstream failures

    /// An exchange that cannot complete normally: drop the upstream and answer with `error`.
    mutating func failExchange(_ error: GatewayError, outcome: ExchangeOutcome = .upstreamFailed, mayHaveActed: Bool = false) {
        if upstream != nil { retireUpstream(reusable: false) }
        if mayHaveActed { conclude(outcome, mayHaveActed: true) }
        answer(error, close: !exchange.requestDecoder.isDone, outcome: outcome)
    }

    mutating func handleUpstreamTimeout(_ timeout: UpstreamTimeout) {
        guard let link = upstream else { return }
        let balancer = environment.balancers[exchange.group]
        let name = "upstream \(balancer.config.name) server \(link.server.label)"
        let retry: Int? = exchange.method.isIdempotent ? environment.retryAfterDefault : nil
        switch timeout {
        case .connect:
            environment.log(.warn, "\(name): connect timed out")
            serverFailed(link.server)
            retireUpstream(reusable: false)
            if balancer.hasCandidate(now: now, excluding: exchange.triedServers) {
                connectNext()
            } else {
                failExchange(GatewayError(.upstreamTimeout, "Timed out connecting to the upstream",
                                          retryAfterSeconds: environment.retryAfterDefault))
            }
        case .send:
            environment.log(.warn, "\(name): stopped reading the request for \(balancer.config.responseTimeoutMs) ms, "
                            + "request \(context.requestIDText)")
            reportFailure(link.server)
            // Part of the request reached the server: it may have started acting on it.
            let bytesSent = link.output.totalWritten > exchange.upstreamWrittenAtStart
            failExchange(GatewayError(.upstreamTimeout, "The upstream stopped reading the request", retryAfterSeconds: retry),
                         mayHaveActed: bytesSent)
        case .response:
            environment.log(.warn, "\(name): response timed out, request \(context.requestIDText)")
            reportFailure(link.server)
            // Retrying is for the client to decide: only it knows whether the request may run twice.
            failExchange(GatewayError(.upstreamTimeout, "The upstream did not answer in time", retryAfterSeconds: retry))
        }
    }

    /// The upstream closed, reset or sent garbage before the response was complete.
    mutating func upstreamBroke(_ reason: String) {
        guard let link = upstream, case .forwarding(_, let response) = state else { return }
        let nothingReceived = response == .awaitingHead && (link.input?.readableCount ?? 0) == 0
        let stale = nothingReceived && link.reused
        // A pooled connection the server closed while idle says nothing about the server's health;
        // a reset, an early close or garbage on a connection it just accepted does.
        if !stale { reportFailure(link.server) }
        retireUpstream(reusable: false)
        if stale && mayRetryOnFreshConnection {
            // A pooled connection the server had already closed: a fresh one gets the request once more.
            connectNext()
            return
        }
        let below = link.failure.map { " (\($0))" } ?? ""
        environment.log(.warn, "upstream \(environment.balancers[exchange.group].config.name): \(reason)\(below), request \(context.requestIDText)")
        if responseStarted {
            abort("upstream \(reason)\(below) after the response started")
        } else {
            failExchange(GatewayError(.badGateway, "The upstream closed the connection without a complete response",
                                      details: link.failure.map { [("reason", .string($0))] } ?? [],
                                      retryAfterSeconds: environment.retryAfterDefault))
        }
    }

    // MARK: After the answer

    /// The answer has left: log it, then wait for the next request or close.
    mutating func finishExchange() -> Step {
        consumeHead()
        observeEnd(status: exchange.status)
        requestsServed += 1
        if !exchange.requestDecoder.isDone { unreadClientBytes = true }
        // A head that promised keep-alive before draining began still ends the connection.
        let keep = exchange.keepAlive && !client.peerClosed && !draining
        current.pointee.parser.reset()
        exchange = Exchange()
        state = keep ? .idle(since: now, fresh: false) : .closing
        return .progress
    }

    /// The last answer is out. With unread client bytes possibly in flight, shut the write side
    /// and drain for a while (nginx's lingering close); otherwise close at once.
    mutating func finishClosing() -> Step {
        let unread = unreadClientBytes || (client.input?.readableCount ?? 0) > 0
        if !unread || client.peerClosed {
            close()
            return .progress
        }
        state = .lingering(since: now, lastRead: now)
        return .act(.shutdownClientWrite)
    }

    /// nginx's lingering_time and lingering_timeout.
    static let lingerTotalMs: UInt64 = 30_000
    static let lingerIdleMs: UInt64 = 5_000

    /// Drops what the client still sends; closes at its EOF.
    mutating func stepLingering() -> Step {
        guard case .lingering(let since, _) = state else { return .wait }
        if let buffer = client.input, buffer.readableCount > 0 {
            buffer.clear()
            state = .lingering(since: since, lastRead: now)
        }
        if client.peerClosed {
            close()
            return .progress
        }
        if !client.readable { return .wait }
        client.input?.clear()
        return .act(.readClient)
    }

    // MARK: Closing

    /// Ends everything at once: the client is gone or the response cannot be completed.
    mutating func abort(_ reason: String) {
        if isInExchange && (environment.accessLog != nil || responseStarted) {
            environment.log(.warn, "request \(context.requestIDText) aborted: \(reason)")
        }
        close()
    }

    mutating func close() {
        if state == .closed { return }
        if upstream != nil { retireUpstream(reusable: false) }
        conclude(.clientAborted)
        if slot != nil { observeEnd(status: responseStarted ? exchange.status : 499) }
        environment.metrics?.count(.connectionsClosed)
        state = .closed
        closeOwed = true
        clientDeadline = 0
        upstreamDeadline = 0
        client.output.reset()
        if let lent = slot { releaseSlot(lent) }
    }

    private var isInExchange: Bool {
        switch state {
        case .awaitingAdmission, .connecting, .forwarding, .replaying, .tunnelling, .answered: return true
        default: return false
        }
    }
}
