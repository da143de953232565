/// The response side: the upstream's head, then its body streamed to the client in place, or
/// collected so the error stage can rewrite it into the canonical envelope.
extension ExchangeMachine {
    mutating func stepResponse(_ link: UpstreamLink) -> Step {
        guard case .forwarding(_, let response) = state else { return .progress }
        switch response {
        case .awaitingHead:
            if let buffer = link.input, buffer.readableCount > 0 {
                switch current.pointee.responseParser.parse(buffer.readPointer, count: buffer.readableCount) {
                case .complete(let headLength):
                    handleResponseHead(link, headLength)
                    return .progress
                case .failed(let error):
                    link.reused = false  // a garbled answer is never retried
                    upstreamBroke("invalid response head (\(error.reason))")
                    return .progress
                case .needMore:
                    break
                }
            }
            if link.ended {
                upstreamBroke("connection closed before a response")
                return .progress
            }
            return readUpstreamStep(link)
        case .streaming:
            return streamBody(link)
        case .collecting:
            return collectBody(link)
        case .rewritten:
            return .progress
        case .complete:
            // Bytes still borrowed from the upstream's buffer must reach the client first.
            if client.output.hasBorrowed { return .wait }
            retireUpstream(reusable: link.isClean && exchange.upstreamKeepAlive && exchange.requestDecoder.isDone)
            state = .answered
            return .progress
        }
    }

    /// A read of the upstream when it has something and the buffer has room.
    // Inlined: called from mutating code, a non-mutating method gets a memcpy of the machine as its self.
    @inline(__always) func readUpstreamStep(_ link: UpstreamLink) -> Step {
        guard link.readable, !link.ended else { return .wait }
        if let buffer = link.input, buffer.writableCount == 0 {
            if client.output.hasBorrowed { return .wait }
            buffer.compact()
            if buffer.writableCount == 0 { return .wait }
        }
        return .act(.readUpstream)
    }

    private mutating func handleResponseHead(_ link: UpstreamLink, _ headLength: Int) {
        let head = current.pointee.responseParser.head
        let buffer = link.input!
        let bytes = buffer.readPointer
        if head.status == 101 {
            buffer.readIndex += headLength
            current.pointee.responseParser.reset()
            startTunnel(head, bytes, on: link)
            return
        }
        if head.status < 200 {
            // Interim responses are dropped: the gateway answers Expect: 100-continue itself.
            buffer.readIndex += headLength
            current.pointee.responseParser.reset()
            return
        }
        environment.balancers[exchange.group].reportSuccess(link.server)
        observeResponseHead()
        exchange.status = head.status
        exchange.upstreamKeepAlive = head.keepAlive
        let framing = head.framing(requestMethod: exchange.method)
        exchange.responseDecoder = BodyDecoder(framing: framing)
        guard case .forwarding(let request, _) = state else { return }
        switch environment.pipeline.responseHead(head, bytes: bytes, context: context) {
        case .collect(let limit, let stage):
            rewriter = stage
            exchange.collectLimit = limit
            state = .forwarding(request, .collecting)
        case .continue:
            writeStreamedHead(head, bytes, framing)
            state = .forwarding(request, .streaming)
        }
        buffer.readIndex += headLength
        current.pointee.responseParser.reset()
    }

    private mutating func writeStreamedHead(_ head: ResponseHead, _ bytes: UnsafeMutablePointer<UInt8>, _ framing: BodyFraming) {
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
        decideKeepAlive(closeRequested: exchange.clientFraming == .untilClose)
        let directive = ProxyHeadWriter.ConnectionDirective(keep: exchange.keepAlive, clientVersion: exchange.clientVersion)
        // HEAD and 304 carry the Content-Length of the representation, not of this (empty) body.
        let keepLength = framing == .none && (exchange.method == .head || head.status == 304)
        let out = client.output.ownedBuffer
        let start = out.writeIndex
        context.requestID.withUnsafeBytes { id in
            ProxyHeadWriter.writeResponse(head, from: bytes, framing: exchange.clientFraming, requestID: id,
                                          connection: directive, extraHeaders: context.extraResponseHeaders.readableBytes,
                                          preserveContentLength: keepLength, into: out)
        }
        client.output.commitOwned(from: start)
        context.responseCopy?.recordHead(head, bytes: bytes)
    }

    /// Moves body bytes to the client; `.wait` when it has to wait for the client or the upstream.
    private mutating func streamBody(_ link: UpstreamLink) -> Step {
        if client.output.isCrowded || (!client.output.isEmpty && !client.writable) { return .wait }
        let buffer = link.input!
        switch exchange.responseDecoder.next(buffer.readPointer, count: buffer.readableCount) {
        case .data(let offset, let length, let consumed):
            context.responseCopy?.append(buffer.readPointer + offset, count: length)
            if exchange.clientFraming == .chunked {
                let out = client.output.ownedBuffer
                let start = out.writeIndex
                out.appendHex(length)
                out.append("\r\n")
                client.output.commitOwned(from: start)
                client.output.appendBorrowed(buffer.readPointer + offset, count: length)
                client.output.appendOwned("\r\n")
            } else {
                client.output.appendBorrowed(buffer.readPointer + offset, count: length)
            }
            buffer.readIndex += consumed
            if exchange.responseDecoder.isDone { finishStreamedBody() }
            return .progress
        case .end(let consumed):
            buffer.readIndex += consumed
            finishStreamedBody()
            return .progress
        case .needMore(let consumed):
            buffer.readIndex += consumed
            if link.ended {
                if exchange.responseDecoder.endsAtClose {
                    finishStreamedBody()
                } else {
                    upstreamBroke("connection closed in the middle of the response body")
                }
                return .progress
            }
            // Backpressure: only read on once the client has taken what is queued.
            if !client.output.isEmpty { return client.writable ? .act(.flushClient) : .wait }
            return readUpstreamStep(link)
        case .failed(let reason):
            upstreamBroke("malformed response body (\(reason.text))")
            return .progress
        }
    }

    /// Runs before the last bytes can reach the client: a client that sends its next request the
    /// moment it has this answer (on another loop, even) must find the Idempotency-Key settled and
    /// its concurrency slot free.
    private mutating func finishStreamedBody() {
        guard case .forwarding(let request, _) = state else { return }
        state = .forwarding(request, .complete)
        conclude(.completed(status: exchange.status))
        if exchange.clientFraming == .chunked { client.output.appendOwned("0\r\n\r\n") }
    }

    /// Gathers an upstream error body (up to the rewrite buffer) and answers with the envelope.
    private mutating func collectBody(_ link: UpstreamLink) -> Step {
        let buffer = link.input!
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
                return .progress
            case .needMore(let consumed):
                buffer.readIndex += consumed
                if link.ended {
                    answerWithRewrite(complete: exchange.responseDecoder.endsAtClose)
                    return .progress
                }
                buffer.compact()
                return readUpstreamStep(link)
            case .failed:
                link.ended = true
                answerWithRewrite(complete: false)
                return .progress
            }
        }
    }

    private mutating func answerWithRewrite(complete: Bool) {
        let body = complete && !exchange.collectOverflow ? exchange.collected : nil
        let rendered = rewriter!.rewrite(collected: body, context: context)
        rewriter = nil
        context.responseCopy?.recordRewritten(rendered)
        if case .forwarding(let request, _) = state { state = .forwarding(request, .rewritten) }
        let link = upstream!
        retireUpstream(reusable: link.isClean && exchange.upstreamKeepAlive && exchange.requestDecoder.isDone)
        answer(rendered, close: !exchange.requestDecoder.isDone, outcome: nil)
    }

    /// The exchange is done with its upstream connection: back to the pool, or closed.
    mutating func retireUpstream(reusable: Bool) {
        guard let link = upstream else { return }
        upstream = nil
        retiring = link
        retiringReusable = reusable
    }
}
