import GatewayCore

/// Idempotency-Key handling around an exchange (the protocol is documented on IdempotencyStage).
extension ClientConnection {
    /// Returns false when the request will not be forwarded (answered, or to be replayed).
    func beginIdempotency(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>) -> Bool {
        guard let stage = worker.idempotency, let route = context.route else { return true }
        // Created only for keyed requests: a digest context costs an allocation and OpenSSL locks.
        func fingerprinter() -> RequestFingerprinter {
            RequestFingerprinter(method: UnsafeRawBufferPointer(start: bytes + head.methodStart, count: head.methodLength),
                                 path: UnsafeRawBufferPointer(start: bytes + head.targetStart, count: head.targetLength))
        }
        let decision = context.withIdempotencyCaller(worker.pipeline.policies.keys) { caller in
            stage.begin(caller: caller, route: route, head: head, bytes: bytes, now: context.wallMillis)
        }
        switch decision {
        case .notApplicable:
            return true
        case .reject(let error):
            sendError(error, close: head.framing != .none, outcome: .rejected)
            return false
        case .proceed(let reservation):
            let recorder = stage.makeRecorder(requestID: context.requestID)
            exchange.idempotency = IdempotencyExchange(mode: .reserved(reservation, recorder), fingerprinter: fingerprinter())
            return true
        case .awaitFingerprint(let entry):
            exchange.idempotency = IdempotencyExchange(mode: .replaying(entry), fingerprinter: fingerprinter())
            consumeHead()
            return false
        }
    }

    /// For a settled key: reads and hashes the body without forwarding it, then replays the stored
    /// answer or refuses. The upstream is never contacted.
    func pumpReplayBody() -> Bool {
        guard let idempotency = exchange.idempotency, case .replaying(let entry) = idempotency.mode else { return false }
        var progressed = false
        while let buffer = input {
            switch exchange.requestDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                if exchange.requestDecoder.payloadBytes > context.route!.config.maxBody {
                    sendError(RouteStage.tooLarge(context.route!), close: true, outcome: .rejected)
                    return true
                }
                idempotency.fingerprinter.update(buffer.readPointer + offset, count: length)
                buffer.readIndex += consumed
                lastBodyProgress = loop.now
                progressed = true
            case .end(let consumed):
                buffer.readIndex += consumed
                exchange.requestBodyDone = true
                answerFromStore(entry, fingerprint: idempotency.fingerprinter.finish())
                return true
            case .needMore(let consumed):
                buffer.readIndex += consumed
                switch readClient() {
                case .read: progressed = true
                case .nothing: return progressed
                case .closed:
                    abort("client closed the connection during the request body")
                    return true
                }
            case .failed(let reason):
                sendError(GatewayError(.invalidRequest, "Malformed request body: \(reason.text)"), close: true, outcome: .rejected)
                return true
            }
        }
        return progressed
    }

    private func answerFromStore(_ entry: SettledEntry, fingerprint: RequestFingerprint) {
        exchange.idempotency = nil
        guard let stage = worker.idempotency else { return }
        switch stage.resolve(entry, fingerprint: fingerprint, now: Clock.wallMillis()) {
        case .reject(let error):
            sendError(error, close: false, outcome: .rejected)
        case .replay(let stored):
            let keep = exchange.clientKeepAlive && !peerClosed
            let directive = ProxyHeadWriter.ConnectionDirective(keep: keep, clientVersion: exchange.clientVersion)
            let out = output.ownedBuffer
            let start = out.writeIndex
            IdempotencyReplay.write(stored, connection: directive, extraHeaders: context.extraResponseHeaders.readableBytes, into: out)
            output.commitOwned(from: start)
            exchange.responseStarted = true
            exchange.status = stored.status
            exchange.replayed = true
            exchange.responsePhase = .done
            if !keep { exchange.closeAfterResponse = true }
            endExchange(outcome: .completed(status: stored.status))
        }
    }

    /// Settles the key's reservation exactly once, by what actually happened upstream: a relayed
    /// final answer is stored (or released, by status); a request the upstream may have acted on
    /// without a complete answer locks the key as "outcome unknown"; anything else releases it.
    func settleIdempotency() {
        guard let idempotency = exchange.idempotency, case .reserved(let reservation, let recorder) = idempotency.mode,
              let stage = worker.idempotency else { return }
        exchange.idempotency = nil
        let now = Clock.wallMillis()
        if exchange.upstreamAnswered && exchange.responsePhase == .done && exchange.requestBodyDone {
            stage.complete(reservation, fingerprint: idempotency.fingerprinter.finish(), response: recorder.finish(), now: now)
        } else if exchange.requestFullySent || exchange.upstreamAnswered || exchange.sendStalledAfterBytes {
            let fingerprint = exchange.requestBodyDone ? idempotency.fingerprinter.finish() : nil
            stage.markUnknown(reservation, fingerprint: fingerprint, now: now)
        } else {
            stage.release(reservation)
        }
    }
}
