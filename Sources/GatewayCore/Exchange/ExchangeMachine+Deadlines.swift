/// Where the two timers of a connection stand, recomputed whenever the machine waits.
extension ExchangeMachine {
    mutating func updateDeadlines() {
        clientDeadline = computeClientDeadline()
        upstreamDeadline = computeUpstreamDeadline()
    }

    /// Client side: send timeout while it does not take its answer, header, body, keep-alive and
    /// lingering timeouts while the gateway waits for it.
    // Inlined: called from mutating code, a non-mutating method gets a memcpy of the machine as its self.
    @inline(__always) private func computeClientDeadline() -> UInt64 {
        let limits = environment.limits
        if !client.output.isEmpty && !client.writable { return client.lastWriteProgress + UInt64(limits.sendTimeoutMs) }
        switch state {
        // A connection that has not sent its first request gets the header timeout from accept.
        case .idle(let since, let fresh):
            let end = since + UInt64(fresh ? limits.headerTimeoutMs : limits.keepaliveTimeoutMs)
            return slot == nil ? end : min(end, since + Self.parkAfterMs)
        case .readingHead(let since):
            return since + UInt64(limits.headerTimeoutMs)
        case .replaying:
            return exchange.requestDecoder.isDone ? 0 : exchange.lastBodyProgress + UInt64(limits.bodyTimeoutMs)
        case .forwarding(.sending, _):
            // Waiting for body bytes from the client, not for the upstream to take them.
            let waitingForClient = !exchange.requestDecoder.isDone && (upstream?.output.isEmpty ?? false)
            return waitingForClient ? exchange.lastBodyProgress + UInt64(limits.bodyTimeoutMs) : 0
        case .closing:
            return now + UInt64(limits.sendTimeoutMs)
        case .lingering(let since, let lastRead):
            return min(since + Self.lingerTotalMs, lastRead + Self.lingerIdleMs)
        case .awaitingAdmission, .connecting, .forwarding, .tunnelling, .answered, .closed:
            return 0
        }
    }

    /// Upstream side: connect timeout; send timeout while request bytes wait for the server to take
    /// them (no write progress for `response_timeout`); response timeout while the whole request is
    /// with it, restarted by every byte it sends.
    private mutating func computeUpstreamDeadline() -> UInt64 {
        guard let link = upstream else { return 0 }
        let config = environment.balancers[exchange.group].config
        switch state {
        case .connecting(let since):
            return since + UInt64(max(config.connectTimeoutMs, 1))
        case .forwarding(let request, let response):
            let timeout = UInt64(max(config.responseTimeoutMs, 1))
            if !link.output.isEmpty { return link.lastWriteProgress + timeout }
            let waiting = request != .sending && response != .complete && response != .rewritten && client.output.isEmpty
            if !waiting {
                exchange.upstreamWaitSince = 0
                return 0
            }
            if exchange.upstreamWaitSince == 0 { exchange.upstreamWaitSince = now }
            return exchange.upstreamWaitSince + timeout
        case .tunnelling:
            return exchange.tunnelActivity + UInt64(max(config.responseTimeoutMs, 1))
        default:
            return 0
        }
    }
}
