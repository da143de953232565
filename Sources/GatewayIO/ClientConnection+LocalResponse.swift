import GatewayCore

/// Responses the gateway writes itself: every one is the canonical error envelope.
extension ClientConnection {
    /// Answers the current request (or a malformed one) with an error envelope.
    func sendError(_ error: GatewayError, close: Bool, outcome: ExchangeOutcome? = nil) {
        if phase == .exchange && exchange.responseStarted {
            abort("\(error.kind.snakeCode) after the response started")
            return
        }
        let rendered = worker.pipeline.render(error, context: context)
        writeLocal(rendered, close: close)
        finishLocal(status: rendered.status, close: close, outcome: outcome)
    }

    /// Sends an already-rendered error (an upstream error rewritten into the envelope).
    func sendRendered(_ rendered: RenderedError, close: Bool) {
        writeLocal(rendered, close: close)
        finishLocal(status: rendered.status, close: close, outcome: nil)
    }

    /// An exchange that cannot complete normally: drop the upstream and answer with `error`.
    func failExchange(_ error: GatewayError, outcome: ExchangeOutcome = .upstreamFailed) {
        upstream?.close()
        upstream = nil
        sendError(error, close: !exchange.requestBodyDone, outcome: outcome)
    }

    private func writeLocal(_ rendered: RenderedError, close: Bool) {
        if let seconds = rendered.retryAfterSeconds { context.addResponseHeader("Retry-After", String(seconds)) }
        if let challenge = rendered.wwwAuthenticate { context.addResponseHeader("WWW-Authenticate", challenge) }
        let keep = !close && exchange.clientKeepAlive && !peerClosed
        let directive = ProxyHeadWriter.ConnectionDirective(keep: keep, clientVersion: exchange.clientVersion)
        let out = output.ownedBuffer
        let start = out.writeIndex
        context.requestID.withUnsafeBytes { id in
            let extra = context.extraResponseHeaders.readableBytes
            ProxyHeadWriter.writeLocalResponse(status: rendered.status, reason: HTTPStatus.reason(rendered.status),
                                               contentLength: exchange.method == .head ? 0 : rendered.body.count,
                                               requestID: id, connection: directive, extraHeaders: extra, into: out)
        }
        if exchange.method != .head { out.append(rendered.body) }
        output.commitOwned(from: start)
        exchange.responseStarted = true
        if !keep { exchange.closeAfterResponse = true }
    }

    private func finishLocal(status: Int, close: Bool, outcome: ExchangeOutcome?) {
        if phase == .exchange {
            exchange.responsePhase = .done
            endExchange(outcome: outcome ?? .completed(status: status))
        } else {
            parser.reset()
            phase = close ? .closing : .idle
            idleSince = loop.now
        }
    }
}
