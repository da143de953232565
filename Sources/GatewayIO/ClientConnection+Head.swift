import GatewayCore

/// Reading and admitting a request head.
extension ClientConnection {
    /// Parses the next request head, reading more when the buffer holds only part of it.
    func pumpHead() -> Bool {
        var progressed = false
        while phase == .idle || phase == .readingHead {
            if let buffer = input, buffer.readableCount > 0 {
                if phase == .idle {
                    phase = .readingHead
                    headStartedAt = loop.now
                }
                switch parser.parse(buffer.readPointer, count: buffer.readableCount) {
                case .complete(let headLength):
                    // Routing, policies and the upstream all see the normalised target, rewritten in place.
                    if let error = parser.normalizeTarget(buffer.readPointer) {
                        refuseUnparsed(error)
                    } else {
                        beginExchange(headLength: headLength)
                    }
                    return true
                case .failed(let error):
                    refuseUnparsed(error)
                    return true
                case .needMore:
                    break
                }
            }
            switch readClient() {
            case .read:
                progressed = true
            case .nothing:
                return progressed
            case .closed:
                close()
                return true
            }
        }
        return progressed
    }

    /// Answers a request that could not be parsed (or normalised) and closes the connection.
    private func refuseUnparsed(_ error: HTTPParseError) {
        let kind: GatewayErrorKind
        switch error {
        case .headersTooLarge: kind = .headersTooLarge
        case .requestLineTooLong: kind = .uriTooLong
        case .notImplemented: kind = .notImplemented
        case .malformed: kind = .invalidRequest
        }
        prepareUnparsedRequestContext()
        lingerOnClose = true
        sendError(GatewayError(kind, "Malformed HTTP request: \(error.reason)"), close: true)
    }

    /// Runs the filter chain on a parsed head, then answers it or starts forwarding it.
    private func beginExchange(headLength: Int) {
        let buffer = input!
        let bytes = UnsafePointer(buffer.readPointer)
        let head = parser.head
        worker.reset(context, method: head.method)
        assignRequestID(head, bytes)

        exchange = ExchangeState()
        exchange.headLength = headLength
        exchange.method = head.method
        exchange.clientVersion = head.version
        exchange.clientKeepAlive = head.keepAlive && requestsServed + 1 < worker.limits.keepaliveRequests
        exchange.requestDecoder = BodyDecoder(framing: head.framing)
        // An explicit `Content-Length: 0` is forwarded: some servers demand a length on POST.
        exchange.upstreamFraming = head.facts.contentLength == 0 ? .length(0) : head.framing
        exchange.requestBodyDone = head.framing == .none
        exchange.startedAt = loop.now
        if worker.accessLog {
            exchange.logPrefix = String(decoding: UnsafeRawBufferPointer(start: bytes + head.methodStart, count: head.methodLength),
                                        as: UTF8.self) + " "
                + String(decoding: UnsafeRawBufferPointer(start: bytes + head.targetStart, count: head.targetLength), as: UTF8.self)
        }
        phase = .exchange

        if let error = worker.pipeline.admit(head, bytes: bytes, context: context) {
            // The body, if any, is not read: closing is cheaper and safer than draining it.
            exchange.stagesFinished = true
            sendError(error, close: head.framing != .none, outcome: .rejected)
            return
        }
        let forward = beginIdempotency(head, bytes)
        if phase != .exchange || exchange.responseStarted { return }
        if head.expectContinue && head.framing != .none && head.version == .http11 {
            output.appendOwned("HTTP/1.1 100 Continue\r\n\r\n")
        }
        if !forward { return }
        exchange.groupIndex = context.route!.upstreamIndex
        let upstreamConfig = worker.groups[exchange.groupIndex].config
        responseParser.limits = HeadLimits(maxStartLine: min(8192, upstreamConfig.maxResponseHeaderSize),
                                           maxHeadSize: upstreamConfig.maxResponseHeaderSize, maxHeaders: 256)
        connectUpstream()
    }

    /// A request that never parsed still gets a fresh id for its error envelope and log line.
    func prepareUnparsedRequestContext() {
        worker.reset(context, method: .get)
        worker.nextRequestID(into: &context.requestID)
    }

    /// Keeps a sane client-supplied X-Request-Id, otherwise mints one.
    private func assignRequestID(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>) {
        if let field = head.facts.first(.xRequestId),
           RequestIDGenerator.isAcceptable(bytes + Int(field.valueStart), Int(field.valueLength)) {
            context.requestID.removeAll(keepingCapacity: true)
            context.requestID.append(contentsOf: UnsafeBufferPointer(start: bytes + Int(field.valueStart), count: Int(field.valueLength)))
        } else {
            worker.nextRequestID(into: &context.requestID)
        }
    }

    /// Consumes the request head once nothing needs it any more.
    func consumeHead() {
        if exchange.headLength > 0, let buffer = input {
            buffer.readIndex += exchange.headLength
            exchange.headLength = 0
        }
    }

    /// Tells the idempotency store and the filter chain how the request ended, exactly once.
    func concludeStages(outcome: ExchangeOutcome) {
        settleIdempotency()
        if !exchange.stagesFinished {
            exchange.stagesFinished = true
            worker.pipeline.finish(context, outcome: outcome)
        }
    }

    /// Ends the exchange and gets ready for the next request on this connection (or closes).
    func endExchange(outcome: ExchangeOutcome) {
        consumeHead()
        concludeStages(outcome: outcome)
        if worker.accessLog {
            Log.info("\(exchange.logPrefix) \(exchange.status) \(loop.now - exchange.startedAt)ms id=\(context.requestIDText) "
                     + "key=\(worker.pipeline.keyFingerprint(context))\(exchange.replayed ? " replayed" : "")")
        }
        requestsServed += 1
        if !exchange.requestBodyDone { lingerOnClose = true }
        let keep = exchange.clientKeepAlive && !exchange.closeAfterResponse && exchange.requestBodyDone && !peerClosed
        parser.reset()
        exchange = ExchangeState()
        if keep {
            phase = .idle
            idleSince = loop.now
        } else {
            phase = .closing
        }
    }
}
