import GatewayCore
import Glibc

/// Choosing, connecting to and hearing from the upstream server of the current exchange.
extension ClientConnection: UpstreamDelegate {
    /// Picks a server (round-robin, skipping ejected ones and ones already tried) and gets a
    /// connection to it: a pooled idle one when there is one, a new one otherwise.
    func connectUpstream() {
        let group = worker.groups[exchange.groupIndex]
        while true {
            guard let server = group.pick(now: loop.now, excluding: exchange.triedServers) else {
                let message = exchange.attempts > 0
                    ? "Could not connect to any server of upstream \(group.config.name)"
                    : "No healthy upstream server for \(group.config.name): all are ejected after failures"
                failExchange(GatewayError(.serviceUnavailable, message, retryAfterSeconds: worker.retryAfterDefault))
                return
            }
            exchange.attempts += 1
            if let idle = group.takeIdle(server, verified: !exchange.method.isIdempotent) {
                idle.activate(for: self)
                upstream = idle
                exchange.reusedConnection = true
                upstreamConnected(idle)
                return
            }
            switch Socket.connect(to: server.address) {
            case .success(let (fd, done)):
                let connection = UpstreamConnection(fd: fd, loop: loop, group: group, server: server, connected: done)
                connection.delegate = self
                upstream = connection
                exchange.reusedConnection = false
                if done {
                    upstreamConnected(connection)
                } else {
                    connection.setDeadline(after: group.config.connectTimeoutMs)
                }
                return
            case .failure(let error):
                Log.warn("upstream \(group.config.name) server \(server.label): \(error)")
                serverFailed(group, server)
            }
        }
    }

    /// Passive health plus "not this one again" for the current request.
    private func serverFailed(_ group: UpstreamGroup, _ server: UpstreamGroup.Server) {
        group.reportFailure(server, now: loop.now)
        exchange.triedServers |= server.triedBit
    }

    func upstreamConnected(_ upstream: UpstreamConnection) {
        guard let buffer = input else { return }
        let head = parser.head
        let out = upstream.output.ownedBuffer
        let start = out.writeIndex
        context.clientAddress.withUnsafeBytes { address in
            context.requestID.withUnsafeBytes { id in
                upstream.server.hostHeader.withUnsafeBytes { host in
                    let facts = ProxyHeadWriter.ForwardingFacts(clientAddress: address, requestID: id, proto: "http", defaultHost: host)
                    ProxyHeadWriter.writeRequest(head, from: buffer.readPointer, framing: exchange.upstreamFraming,
                                                 facts: facts, into: out)
                }
            }
        }
        upstream.output.commitOwned(from: start)
        // A parse that failed on an earlier connection (garbage from another server) starts over.
        responseParser.reset()
        upstream.lastWriteProgress = loop.now
        exchange.upstreamWrittenAtStart = upstream.output.totalWritten
        exchange.upstreamReady = true
        // With a body the head bytes must make way for it; without one they are kept for a retry.
        if !exchange.requestBodyDone { consumeHead() }
        lastBodyProgress = loop.now
        pump()
    }

    func upstreamFailed(_ failed: UpstreamConnection, _ failure: UpstreamConnection.Failure) {
        guard failed === upstream else {
            failed.close()
            return
        }
        handleUpstreamFailure(failed, failure)
        pump()
    }

    private func handleUpstreamFailure(_ failed: UpstreamConnection, _ failure: UpstreamConnection.Failure) {
        let group = failed.group
        let server = failed.server
        failed.close()
        upstream = nil
        exchange.upstreamReady = false
        switch failure {
        case .connectRefused(let code):
            Log.warn("upstream \(group.config.name) server \(server.label): connect: \(String(cString: strerror(code)))")
            serverFailed(group, server)
            connectUpstream()
        case .connectTimeout:
            Log.warn("upstream \(group.config.name) server \(server.label): connect timed out")
            serverFailed(group, server)
            if !group.hasCandidate(now: loop.now, excluding: exchange.triedServers) {
                failExchange(GatewayError(.upstreamTimeout, "Timed out connecting to the upstream",
                                          retryAfterSeconds: worker.retryAfterDefault))
            } else {
                connectUpstream()
            }
        case .sendTimeout:
            Log.warn("upstream \(group.config.name) server \(server.label): stopped reading the request for "
                     + "\(group.config.responseTimeoutMs) ms, request \(context.requestIDText)")
            group.reportFailure(server, now: loop.now)
            // Part of the request reached the server: it may have started acting on it.
            exchange.sendStalledAfterBytes = failed.output.totalWritten > exchange.upstreamWrittenAtStart
            let retry: Int? = exchange.method.isIdempotent ? worker.retryAfterDefault : nil
            failExchange(GatewayError(.upstreamTimeout, "The upstream stopped reading the request", retryAfterSeconds: retry))
        case .responseTimeout:
            Log.warn("upstream \(group.config.name) server \(server.label): response timed out, request \(context.requestIDText)")
            group.reportFailure(server, now: loop.now)
            // Retrying is for the client to decide: only it knows whether the request may run twice.
            let retry: Int? = exchange.method.isIdempotent ? worker.retryAfterDefault : nil
            failExchange(GatewayError(.upstreamTimeout, "The upstream did not answer in time", retryAfterSeconds: retry))
        case .io(let code):
            upstreamBroke("read error: \(String(cString: strerror(code)))")
        }
    }

    func upstreamReadable(_ upstream: UpstreamConnection) {
        if upstream === self.upstream { pump() }
    }

    func upstreamWritable(_ upstream: UpstreamConnection) {
        if upstream === self.upstream { pump() }
    }

    /// The upstream closed or failed before the response was complete.
    func upstreamBroke(_ reason: String) {
        let group = worker.groups[exchange.groupIndex]
        let nothingReceived = exchange.responsePhase == .awaitingHead && (upstream?.input?.readableCount ?? 0) == 0
        // A pooled connection the server closed while idle says nothing about the server's health;
        // a reset, an early close or garbage on a connection it just accepted does.
        if let server = upstream?.server, !(nothingReceived && exchange.reusedConnection) {
            group.reportFailure(server, now: loop.now)
        }
        upstream?.close()
        upstream = nil
        exchange.upstreamReady = false
        if nothingReceived && exchange.reusedConnection && exchange.retryableOnStaleConnection {
            // A pooled connection the server had already closed: a fresh one gets the request once more.
            connectUpstream()
            return
        }
        Log.warn("upstream \(group.config.name): \(reason), request \(context.requestIDText)")
        if exchange.responseStarted {
            abort("upstream \(reason) after the response started")
        } else {
            failExchange(GatewayError(.badGateway, "The upstream closed the connection without a complete response",
                                      retryAfterSeconds: worker.retryAfterDefault))
        }
    }
}
