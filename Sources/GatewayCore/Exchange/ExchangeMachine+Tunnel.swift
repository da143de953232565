/// After a `101 Switching Protocols` to an Upgrade the route allows (WebSocket, say): the gateway
/// stops speaking HTTP on both connections and passes bytes each way, in place and with the same
/// backpressure as bodies, until either side closes or nothing moves for `response_timeout`.
extension ExchangeMachine {
    mutating func startTunnel(_ head: ResponseHead, _ bytes: UnsafeMutablePointer<UInt8>, on link: UpstreamLink) {
        guard exchange.upgrade != nil, case .forwarding(.sent, _) = state else {
            link.reused = false
            upstreamBroke("101 Switching Protocols to a request that did not ask to upgrade")
            return
        }
        environment.balancers[exchange.group].reportSuccess(link.server)
        observeResponseHead()
        exchange.status = 101
        // The connection now belongs to the new protocol: it never carries another request.
        exchange.keepAlive = false
        let out = client.output.ownedBuffer
        let start = out.writeIndex
        context.requestID.withUnsafeBytes { id in
            ProxyHeadWriter.writeSwitchingProtocols(head, from: bytes, requestID: id,
                                                    extraHeaders: context.extraResponseHeaders.readableBytes, into: out)
        }
        client.output.commitOwned(from: start)
        // Bytes the client sent after its head (kept until now for a retry) are the tunnel's first.
        consumeHead()
        exchange.tunnelActivity = now
        state = .tunnelling
    }

    mutating func stepTunnel() -> Step {
        guard let link = upstream else { return .wait }
        if let buffer = client.input, buffer.readableCount > 0, !link.output.isCrowded {
            link.output.appendBorrowed(buffer.readPointer, count: buffer.readableCount)
            exchange.tunnelledIn += UInt64(buffer.readableCount)
            buffer.readIndex = buffer.writeIndex
            exchange.tunnelActivity = now
            return .progress
        }
        if let buffer = link.input, buffer.readableCount > 0, !client.output.isCrowded {
            client.output.appendBorrowed(buffer.readPointer, count: buffer.readableCount)
            buffer.readIndex = buffer.writeIndex
            exchange.tunnelActivity = now
            return .progress
        }
        if !link.output.isEmpty && link.writable { return .act(.flushUpstream) }
        // Over once a side has closed and what it sent has reached the other.
        if client.peerClosed && link.output.isEmpty {
            endTunnel(nil)
            return .progress
        }
        if link.ended && client.output.isEmpty {
            endTunnel(nil)
            return .progress
        }
        if case .act(let action) = readClientStep() { return .act(action) }
        return readUpstreamStep(link)
    }

    /// Both connections close; the stages hear that the exchange (a 101) completed.
    mutating func endTunnel(_ reason: String?) {
        if let reason { environment.log(.info, "tunnel \(context.requestIDText) closed: \(reason)") }
        retireUpstream(reusable: false)
        conclude(.completed(status: 101))
        state = .answered
    }
}
