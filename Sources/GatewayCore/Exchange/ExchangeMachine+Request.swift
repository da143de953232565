/// The request side: reading and admitting a head, choosing and connecting to a server, and
/// moving the body to the upstream in place (payload slices of the client's input buffer are
/// queued on the upstream without being copied).
extension ExchangeMachine {
    // MARK: Head

    /// Parses the next request head, asking for more bytes when only part of it is here. Kept
    /// inlined into `next()`, as it was before the reload and drain checks grew it: out of line it
    /// cost about 100 instructions a request (callgrind).
    @inline(__always)
    mutating func stepHead() -> Step {
        if let buffer = client.input, buffer.readableCount > 0 {
            if case .idle = state {
                if environment.successor != nil { adoptNewestEnvironment() }
                acquireSlot()
                state = .readingHead(since: now)
            }
            switch current.pointee.parser.parse(buffer.readPointer, count: buffer.readableCount) {
            case .complete(let headLength):
                // Routing, policies and the upstream all see the normalised target, rewritten in place.
                if let error = current.pointee.parser.normalizeTarget(buffer.readPointer) {
                    unreadClientBytes = true
                    refuseUnparsed(Self.error(for: error))
                } else {
                    beginExchange(headLength: headLength)
                }
                return .progress
            case .failed(let error):
                unreadClientBytes = true
                refuseUnparsed(Self.error(for: error))
                return .progress
            case .needMore:
                break
            }
        }
        if client.peerClosed {
            close()
            return .progress
        }
        if draining, case .idle = state, !client.readable {
            close()
            return .progress
        }
        return readClientStep()
    }

    /// A read of the client when the socket has something and the buffer has room.
    mutating func readClientStep() -> Step {
        guard client.readable, !client.peerClosed else { return .wait }
        if let buffer = client.input, buffer.writableCount == 0 {
            // Payload still borrowed by the upstream's queue pins the buffer's bytes in place.
            if upstream?.output.hasBorrowed ?? false { return .wait }
            buffer.compact()
            if buffer.writableCount == 0 { return .wait }
        }
        return .act(.readClient)
    }

    static func error(for parseError: HTTPParseError) -> GatewayError {
        let kind: GatewayErrorKind
        switch parseError {
        case .headersTooLarge: kind = .headersTooLarge
        case .requestLineTooLong: kind = .uriTooLong
        case .notImplemented: kind = .notImplemented
        case .malformed: kind = .invalidRequest
        }
        return GatewayError(kind, "Malformed HTTP request: \(parseError.reason)")
    }

    /// Runs the filter chain on a parsed head, then answers it or starts forwarding it.
    private mutating func beginExchange(headLength: Int) {
        let buffer = client.input!
        let bytes = UnsafePointer(buffer.readPointer)
        let head = current.pointee.parser.head
        environment.reset(context, method: head.method, now: now)
        if environment.storeLink != nil { context.waiter = client.owner }
        assignRequestID(head, bytes)

        exchange = Exchange()
        exchange.headLength = headLength
        exchange.method = head.method
        exchange.clientVersion = head.version
        exchange.clientKeepAlive = head.keepAlive && requestsServed + 1 < environment.limits.keepaliveRequests
        exchange.requestDecoder = BodyDecoder(framing: head.framing)
        // An explicit `Content-Length: 0` is forwarded: some servers demand a length on POST.
        exchange.upstreamFraming = head.facts.contentLength == 0 ? .length(0) : head.framing
        exchange.startedAt = now
        exchange.lastBodyProgress = now
        observeBegin(head, bytes, headLength: headLength)
        state = .awaitingAdmission
        admit(environment.pipeline.requestHead(head, bytes: bytes, context: context))
    }

    /// A suspended stage has its answer: the chain continues after it.
    mutating func resumeAdmission(with verdict: StageVerdict) {
        let bytes = UnsafePointer(client.input!.readPointer)
        admit(environment.pipeline.resume(with: verdict, current.pointee.parser.head, bytes: bytes, context: context))
    }

    /// Acts on what the filter chain decided: answer, wait, answer from the body, or forward.
    private mutating func admit(_ admission: RequestPipeline.Admission) {
        let head = current.pointee.parser.head
        switch admission {
        case .suspended:
            return
        case .rejected(let error):
            // The body, if any, is not read: closing is cheaper and safer than draining it.
            answer(error, close: head.framing != .none, outcome: .rejected)
            return
        case .answerAfterBody(let stage):
            bodyAnswerer = stage
            consumeHead()
            state = .replaying
        case .admitted:
            break
        }
        if head.expectContinue && head.framing != .none && head.version == .http11 {
            client.output.appendOwned("HTTP/1.1 100 Continue\r\n\r\n")
        }
        if state == .replaying { return }
        exchange.upgrade = allowedUpgrade(head, UnsafePointer(client.input!.readPointer))
        exchange.group = context.route!.upstreamIndex
        let upstreamConfig = environment.balancers[exchange.group].config
        current.pointee.responseParser.limits = HeadLimits(maxStartLine: min(8192, upstreamConfig.maxResponseHeaderSize),
                                           maxHeadSize: upstreamConfig.maxResponseHeaderSize, maxHeaders: 256)
        connectNext()
    }

    /// The client's Upgrade field when it asks to switch (`Connection: upgrade`), has no body, and
    /// every protocol it names (`name[/version]`) is in the route's `upgrade` list.
    // Inlined: called from mutating code, a non-mutating method gets a memcpy of the machine as its self.
    @inline(__always) private func allowedUpgrade(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>) -> HeaderField? {
        let allowed = context.route!.config.upgrades
        guard !allowed.isEmpty, head.facts.connectionUpgrade, head.framing == .none,
              let field = head.facts.first(.upgrade), head.facts.count(.upgrade) == 1 else { return nil }
        var every = true
        Bytes.forEachListElement(bytes + Int(field.valueStart), Int(field.valueLength)) { p, n in
            var name = 0
            while name < n && p[name] != UInt8(ascii: "/") { name += 1 }
            let offered = UnsafeBufferPointer(start: p, count: name)
            if !allowed.contains(where: { $0.utf8.elementsEqual(offered.lazy.map(ByteClass.lower)) }) { every = false }
        }
        return every ? field : nil
    }

    /// Keeps a sane client-supplied X-Request-Id, otherwise mints one.
    private mutating func assignRequestID(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>) {
        if let field = head.facts.first(.xRequestId),
           RequestIDGenerator.isAcceptable(bytes + Int(field.valueStart), Int(field.valueLength)) {
            context.requestID.removeAll(keepingCapacity: true)
            context.requestID.append(contentsOf: UnsafeBufferPointer(start: bytes + Int(field.valueStart), count: Int(field.valueLength)))
        } else {
            environment.mintRequestID(for: context)
        }
    }

    /// Consumes the request head once nothing needs it any more.
    mutating func consumeHead() {
        if exchange.headLength > 0, let buffer = client.input {
            buffer.readIndex += exchange.headLength
            exchange.headLength = 0
        }
    }

    // MARK: Answering from the body

    /// For a stage that answers from the body (a settled Idempotency-Key): reads and hashes the
    /// body without forwarding it, then lets the stage answer. The upstream is never contacted.
    mutating func stepReplayBody() -> Step {
        guard let buffer = client.input else { return .wait }
        while true {
            switch exchange.requestDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                if exchange.requestDecoder.payloadBytes > context.route!.config.maxBody {
                    answer(RouteStage.tooLarge(context.route!), close: true, outcome: .rejected)
                    return .progress
                }
                context.requestDigest?.update(buffer.readPointer + offset, count: length)
                buffer.readIndex += consumed
                exchange.lastBodyProgress = now
            case .end(let consumed):
                buffer.readIndex += consumed
                answerFromBody()
                return .progress
            case .needMore(let consumed):
                buffer.readIndex += consumed
                if client.peerClosed {
                    abort("client closed the connection during the request body")
                    return .progress
                }
                return readClientStep()
            case .failed(let reason):
                answer(GatewayError(.invalidRequest, "Malformed request body: \(reason.text)"), close: true, outcome: .rejected)
                return .progress
            }
        }
    }

    // MARK: Connecting

    /// Picks a server (round-robin, skipping those out of rotation and those already tried) and
    /// asks the I/O for a connection to it; answers 503 when none is left. With every server out
    /// of rotation that answer goes out at once, without touching the network.
    mutating func connectNext() {
        let balancer = environment.balancers[exchange.group]
        guard let server = balancer.pick(now: now, excluding: exchange.triedServers) else {
            let name = balancer.config.name
            if let reason = exchange.handshakeFailure {
                failExchange(GatewayError(.badGateway, "The TLS handshake with upstream \(name) failed",
                                          details: [("reason", .string(reason))], retryAfterSeconds: environment.retryAfterDefault))
                return
            }
            let why = balancer.config.healthCheck == nil ? "all are ejected after failures"
                : "all are failing their health checks or ejected after failures"
            let message = exchange.attempts > 0
                ? "Could not connect to any server of upstream \(name)"
                : "No healthy upstream server for \(name): \(why)"
            failExchange(GatewayError(.serviceUnavailable, message, retryAfterSeconds: environment.retryAfterDefault))
            return
        }
        observeUpstreamAttempt()
        exchange.attempts += 1
        exchange.server = server
        state = .connecting(since: now)
        // A request that may not be sent twice must not land on a pooled connection the server closed.
        pendingConnect = (exchange.group, server.index, !exchange.method.isIdempotent)
    }

    /// Passive health plus "not this one again" for the current request.
    mutating func serverFailed(_ server: UpstreamBalancer.Server) {
        reportFailure(server)
        exchange.triedServers |= server.triedBit
    }

    mutating func reportFailure(_ server: UpstreamBalancer.Server) {
        let balancer = environment.balancers[exchange.group]
        if balancer.reportFailure(server, now: now) {
            environment.metrics?.serverEjected(group: exchange.group, server: server.index)
            environment.log(.warn, "upstream \(balancer.config.name) server \(server.label) ejected for \(server.config.failTimeoutMs) ms")
        }
    }

    /// Connected: the request head goes into the upstream's queue and the body may flow.
    mutating func startForwarding(on link: UpstreamLink) {
        guard let buffer = client.input else { return }
        let head = current.pointee.parser.head
        let out = link.output.ownedBuffer
        let start = out.writeIndex
        context.clientAddress.withUnsafeBytes { address in
            context.requestID.withUnsafeBytes { id in
                link.server.hostHeader.withUnsafeBytes { host in
                    let facts = ProxyHeadWriter.ForwardingFacts(clientAddress: address, requestID: id, proto: proto,
                                                                defaultHost: host)
                    ProxyHeadWriter.writeRequest(head, from: buffer.readPointer, framing: exchange.upstreamFraming,
                                                 facts: facts, upgrade: exchange.upgrade, into: out)
                }
            }
        }
        link.output.commitOwned(from: start)
        // A parse that failed on an earlier connection (garbage from another server) starts over.
        current.pointee.responseParser.reset()
        exchange.upstreamWrittenAtStart = link.output.totalWritten
        exchange.upstreamWaitSince = 0
        state = .forwarding(.sending, .awaitingHead)
        // With a body the head bytes must make way for it; without one they are kept for a retry.
        if !exchange.requestDecoder.isDone { consumeHead() }
        exchange.lastBodyProgress = now
    }

    // MARK: Forwarding the body

    /// Both legs of a forwarded exchange: body bytes to the upstream, the answer to the client.
    mutating func stepForwarding() -> Step {
        guard let link = upstream, case .forwarding(let request, _) = state else { return .wait }
        if request == .sending {
            switch stepRequestBody(link) {
            case .wait: break
            case let other: return other
            }
        }
        return stepResponse(link)
    }

    /// Queues decoded body bytes on the upstream and flushes them; `.wait` when it must wait for
    /// the client or the upstream (the response side may still move).
    private mutating func stepRequestBody(_ link: UpstreamLink) -> Step {
        body: while !exchange.requestDecoder.isDone && !link.output.isCrowded {
            guard let buffer = client.input else { break }
            switch exchange.requestDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                if exchange.requestDecoder.payloadBytes > context.route!.config.maxBody {
                    failExchange(RouteStage.tooLarge(context.route!))
                    return .progress
                }
                context.requestDigest?.update(buffer.readPointer + offset, count: length)
                queueRequestPayload(buffer.readPointer + offset, length, on: link)
                buffer.readIndex += consumed
                exchange.lastBodyProgress = now
            case .end(let consumed):
                buffer.readIndex += consumed
                if exchange.upstreamFraming == .chunked { link.output.appendOwned("0\r\n\r\n") }
            case .needMore(let consumed):
                buffer.readIndex += consumed
                // Backpressure: read more from the client only once the upstream took what we have.
                if !link.output.isEmpty { break body }
                if client.peerClosed {
                    abort("client closed the connection during the request body")
                    return .progress
                }
                if case .act(let action) = readClientStep() { return .act(action) }
                return link.output.isEmpty ? .wait : .act(.flushUpstream)
            case .failed(let reason):
                failExchange(GatewayError(.invalidRequest, "Malformed request body: \(reason.text)"))
                return .progress
            }
        }
        if !link.output.isEmpty && link.writable { return .act(.flushUpstream) }
        if link.output.isEmpty && exchange.requestDecoder.isDone, case .forwarding(.sending, let response) = state {
            state = .forwarding(.sent, response)
            return .progress
        }
        return .wait
    }

    private func queueRequestPayload(_ p: UnsafeMutablePointer<UInt8>, _ length: Int, on link: UpstreamLink) {
        if exchange.upstreamFraming == .chunked {
            let out = link.output.ownedBuffer
            let start = out.writeIndex
            out.appendHex(length)
            out.append("\r\n")
            link.output.commitOwned(from: start)
            link.output.appendBorrowed(p, count: length)
            link.output.appendOwned("\r\n")
        } else {
            link.output.appendBorrowed(p, count: length)
        }
    }
}
