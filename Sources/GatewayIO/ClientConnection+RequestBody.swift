import GatewayCore
import Glibc

/// Streaming the request body from the client to the upstream, in place: payload slices of the
/// client's input buffer are queued on the upstream socket without being copied.
extension ClientConnection {
    func pumpRequestBody() -> Bool {
        if exchange.idempotency?.isReplaying == true { return pumpReplayBody() }
        guard let upstream, exchange.upstreamReady, !upstream.writeFailed else { return false }
        var progressed = false
        body: while !exchange.requestBodyDone && !upstream.output.isCrowded {
            guard let buffer = input else { break }
            switch exchange.requestDecoder.next(buffer.readPointer, count: buffer.readableCount) {
            case .data(let offset, let length, let consumed):
                if exchange.requestDecoder.payloadBytes > context.route!.config.maxBody {
                    failExchange(RouteStage.tooLarge(context.route!))
                    return true
                }
                exchange.idempotency?.fingerprinter.update(buffer.readPointer + offset, count: length)
                queueRequestPayload(buffer.readPointer + offset, length, on: upstream)
                buffer.readIndex += consumed
                lastBodyProgress = loop.now
                progressed = true
            case .end(let consumed):
                buffer.readIndex += consumed
                if exchange.upstreamFraming == .chunked { upstream.output.appendOwned("0\r\n\r\n") }
                exchange.requestBodyDone = true
                progressed = true
            case .needMore(let consumed):
                buffer.readIndex += consumed
                // Backpressure: read more from the client only once the upstream took what we have.
                if !upstream.output.isEmpty { break body }
                switch readClient() {
                case .read: progressed = true
                case .nothing: break body
                case .closed:
                    abort("client closed the connection during the request body")
                    return true
                }
            case .failed(let reason):
                failExchange(GatewayError(.invalidRequest, "Malformed request body: \(reason.text)"))
                return true
            }
        }
        if !upstream.output.isEmpty && upstream.writable {
            switch upstream.flush() {
            case .drained:
                exchange.requestFullySent = exchange.requestBodyDone
                progressed = true
            case .blocked:
                progressed = true
            case .failed(let code):
                // Often the server answered early (413, 401) and closed without reading the body:
                // stop sending, and relay that answer if it is there (pumpResponse reads it).
                Log.warn("upstream \(upstream.group.config.name) server \(upstream.server.label): request write failed: "
                         + "\(String(cString: strerror(code))), request \(context.requestIDText)")
                upstream.writeFailed = true
                upstream.output.reset()
                return true
            }
        }
        return progressed
    }

    private func queueRequestPayload(_ p: UnsafeMutablePointer<UInt8>, _ length: Int, on upstream: UpstreamConnection) {
        if exchange.upstreamFraming == .chunked {
            let out = upstream.output.ownedBuffer
            let start = out.writeIndex
            out.appendHex(length)
            out.append("\r\n")
            upstream.output.commitOwned(from: start)
            upstream.output.appendBorrowed(p, count: length)
            upstream.output.appendOwned("\r\n")
        } else {
            upstream.output.appendBorrowed(p, count: length)
        }
    }
}
