import GatewayCore

/// Receiving the upstream's response: streaming it to the client in place, or collecting an
/// error body so the filter chain can rewrite it into the canonical envelope.
extension ClientConnection {
    func pumpResponse() -> Bool {
        guard let upstream, exchange.upstreamReady else { return false }
        var progressed = false
        while phase == .exchange && self.upstream === upstream {
            switch exchange.responsePhase {
            case .awaitingHead:
                if let buffer = upstream.input, buffer.readableCount > 0 {
                    switch responseParser.parse(buffer.readPointer, count: buffer.readableCount) {
                    case .complete(let headLength):
                        handleResponseHead(upstream, headLength)
                        progressed = true
                        continue
                    case .failed(let error):
                        exchange.reusedConnection = false  // a garbled answer is never retried
                        upstreamBroke("invalid response head (\(error.reason))")
                        return true
                    case .needMore:
                        break
                    }
                }
                if upstream.ended {
                    upstreamBroke("connection closed before a response")
                    return true
                }
                if !readUpstream(upstream) { return progressed }
                progressed = true
            case .streaming:
                if !streamBody(upstream) { return progressed }
                progressed = true
            case .collecting:
                if !collectBody(upstream) { return progressed }
                progressed = true
            case .done:
                if output.hasBorrowed { return progressed }  // those bytes still live in the upstream's buffer
                releaseUpstream()
                endExchange(outcome: .completed(status: exchange.status))
                return true
            }
        }
        return progressed
    }

    /// Reads from the upstream; false when nothing new arrived (EOF is recorded, not returned).
    private func readUpstream(_ upstream: UpstreamConnection) -> Bool {
        if !upstream.readable || upstream.ended { return false }
        if let buffer = upstream.input, buffer.writableCount == 0, !output.hasBorrowed { buffer.compact() }
        switch upstream.read() {
        case .bytes(let n):
            if n > 0 && upstream.deadline != 0 { upstream.setDeadline(after: upstream.group.config.responseTimeoutMs) }
            return n > 0
        case .wouldBlock:
            return false
        case .closed, .failed:
            return true
        }
    }

    private func handleResponseHead(_ upstream: UpstreamConnection, _ headLength: Int) {
        let head = responseParser.head
        let bytes = upstream.input!.readPointer
        if head.status < 200 {
            // Interim responses are dropped: the gateway answers Expect: 100-continue itself.
            upstream.input!.readIndex += headLength
            responseParser.reset()
            return
        }
        upstream.group.reportSuccess(upstream.server)
        exchange.upstreamAnswered = true
        exchange.status = head.status
        exchange.upstreamKeepAlive = head.keepAlive
        let framing = head.framing(requestMethod: exchange.method)
        exchange.responseDecoder = BodyDecoder(framing: framing)

        switch worker.pipeline.upstreamErrors.plan(status: head.status, route: context.route) {
        case .rewrite(let limit):
            exchange.errorFacts = worker.pipeline.upstreamErrors.inspect(head, headBytes: bytes, context: context)
            exchange.collectLimit = limit
            exchange.responsePhase = .collecting
        case .stream:
            writeStreamedHead(head, bytes, framing)
            exchange.responsePhase = .streaming
        }
        upstream.input!.readIndex += headLength
        responseParser.reset()
    }

    private func writeStreamedHead(_ head: ResponseHead, _ bytes: UnsafeMutablePointer<UInt8>, _ framing: BodyFraming) {
        switch framing {
        case .none:
            // An empty body still needs its length, or a keep-alive client waits for more.
            let bodiless = exchange.method == .head || head.status < 200 || head.status == 204 || head.status == 304
            exchange.clientFraming = bodiless ? .none : .length(0)
        case .length:
            exchange.clientFraming = framing
        case .chunked, .untilClose:
            // Re-chunk for HTTP/1.1 clients so the connection survives; HTTP/1.0 gets close-delimited.
            exchange.clientFraming = exchange.clientVersion == .http11 ? .chunked : .untilClose
        }
        if exchange.clientFraming == .untilClose || !exchange.requestBodyDone || peerClosed || !exchange.clientKeepAlive {
            exchange.closeAfterResponse = true
        }
        let directive = ProxyHeadWriter.ConnectionDirective(keep: !exchange.closeAfterResponse, clientVersion: exchange.clientVersion)
        // HEAD and 304 carry the Content-Length of the representation, not of this (empty) body.
        let keepLength = framing == .none && (exchange.method == .head || head.status == 304)
        let out = output.ownedBuffer
        let start = out.writeIndex
        context.requestID.withUnsafeBytes { id in
            ProxyHeadWriter.writeResponse(head, from: bytes, framing: exchange.clientFraming, requestID: id,
                                          connection: directive, extraHeaders: context.extraResponseHeaders.readableBytes,
                                          preserveContentLength: keepLength, into: out)
        }
        output.commitOwned(from: start)
        exchange.responseStarted = true
        exchange.idempotency?.recorder?.recordHead(head, bytes: bytes)
    }

    /// Moves body bytes to the client; false when it has to wait (for the client or the upstream).
    private func streamBody(_ upstream: UpstreamConnection) -> Bool {
        var progressed = false
        while exchange.responsePhase == .streaming {
            if output.isCrowded || (!output.isEmpty && !writable) { break }
            let buffer = upstream.input!
            switch exchange.responseDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                exchange.idempotency?.recorder?.append(buffer.readPointer + offset, count: length)
                if exchange.clientFraming == .chunked {
                    let out = output.ownedBuffer
                    let start = out.writeIndex
                    out.appendHex(length)
                    out.append("\r\n")
                    output.commitOwned(from: start)
                    output.appendBorrowed(buffer.readPointer + offset, count: length)
                    output.appendOwned("\r\n")
                } else {
                    output.appendBorrowed(buffer.readPointer + offset, count: length)
                }
                buffer.readIndex += consumed
                progressed = true
                if exchange.responseDecoder.isDone {
                    finishStreamedBody()
                    return true
                }
            case .end(let consumed):
                buffer.readIndex += consumed
                finishStreamedBody()
                return true
            case .needMore(let consumed):
                buffer.readIndex += consumed
                if upstream.ended {
                    if exchange.responseDecoder.endsAtClose {
                        finishStreamedBody()
                        return true
                    }
                    upstreamBroke("connection closed in the middle of the response body")
                    return true
                }
                // Backpressure: only read on once the client has taken what is queued.
                if !output.isEmpty {
                    if writable { _ = flushOutput() }
                    if !output.isEmpty { return progressed }
                }
                if !readUpstream(upstream) { return progressed }
                progressed = true
            case .failed(let reason):
                upstreamBroke("malformed response body (\(reason.text))")
                return true
            }
        }
        if !output.isEmpty && writable { progressed = flushOutput() || progressed }
        return progressed
    }

    /// Runs before the last bytes can reach the client: a client that sends its next request the
    /// moment it has this answer (on another loop, even) must find the Idempotency-Key settled and
    /// its concurrency slot free.
    private func finishStreamedBody() {
        exchange.responsePhase = .done
        concludeStages(outcome: .completed(status: exchange.status))
        if exchange.clientFraming == .chunked { output.appendOwned("0\r\n\r\n") }
    }

    /// Gathers an upstream error body (up to the rewrite buffer) and answers with the envelope.
    private func collectBody(_ upstream: UpstreamConnection) -> Bool {
        let buffer = upstream.input!
        while true {
            switch exchange.responseDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                if exchange.collected.count + length <= exchange.collectLimit {
                    exchange.collected.append(contentsOf: UnsafeBufferPointer(start: buffer.readPointer + offset, count: length))
                } else {
                    exchange.collectOverflow = true
                }
                buffer.readIndex += consumed
            case .end(let consumed):
                buffer.readIndex += consumed
                answerWithRewrite(complete: true)
                return true
            case .needMore(let consumed):
                buffer.readIndex += consumed
                if upstream.ended {
                    answerWithRewrite(complete: exchange.responseDecoder.endsAtClose)
                    return true
                }
                buffer.compact()
                return readUpstream(upstream)
            case .failed:
                upstream.ended = true
                answerWithRewrite(complete: false)
                return true
            }
        }
    }

    private func answerWithRewrite(complete: Bool) {
        let body = complete && !exchange.collectOverflow ? exchange.collected : nil
        let rendered = worker.pipeline.upstreamErrors.rewrite(exchange.errorFacts!, body: body, context: context)
        exchange.idempotency?.recorder?.recordRewritten(rendered)
        releaseUpstream()
        sendRendered(rendered, close: !exchange.requestBodyDone)
    }

    /// Returns the upstream connection to the pool when it is clean, otherwise closes it.
    func releaseUpstream() {
        guard let upstream else { return }
        self.upstream = nil
        exchange.upstreamReady = false
        let clean = exchange.upstreamKeepAlive && exchange.requestBodyDone && !upstream.ended
            && upstream.output.isEmpty && (upstream.input?.readableCount ?? 0) == 0
        if clean { upstream.release() } else { upstream.close() }
    }
}
