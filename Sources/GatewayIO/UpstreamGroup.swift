import GatewayCore

/// One loop's view of an `upstream` block: its servers, their passive health, and their idle
/// keep-alive connections. Per loop, so nothing here is shared between threads.
final class UpstreamGroup {
    final class Server {
        let config: UpstreamServer
        let address: SocketAddress
        /// `host:port` as configured, and the address when that is a name.
        let label: String
        /// `host:port` as configured, sent as Host when a client (HTTP/1.0) sent none.
        let hostHeader: [UInt8]
        /// This server's bit in an exchange's set of servers already tried.
        let triedBit: UInt64
        var currentWeight = 0
        var fails = 0
        var ejectedUntil: UInt64 = 0
        var idle: [UpstreamConnection] = []

        init(config: UpstreamServer, address: SocketAddress, index: Int) {
            self.config = config
            self.address = address
            triedBit = 1 << UInt64(index % 64)
            let configured = config.host.contains(":") ? "[\(config.host)]:\(config.port)" : "\(config.host):\(config.port)"
            label = configured == address.description ? configured : "\(configured) (\(address))"
            hostHeader = Array(configured.utf8)
        }
    }

    let config: UpstreamConfig
    let servers: [Server]

    /// `servers`: every address of every `server` line, as resolved before start.
    init(config: UpstreamConfig, servers: [ResolvedAddresses.Server]) {
        self.config = config
        self.servers = servers.enumerated().map { Server(config: $1.config, address: $1.address, index: $0) }
    }

    /// Whether `pick` would find a server, without moving the round-robin weights.
    func hasCandidate(now: UInt64, excluding tried: UInt64) -> Bool {
        servers.contains { $0.ejectedUntil <= now && tried & $0.triedBit == 0 }
    }

    /// Smooth weighted round-robin (as in nginx) over servers that are not ejected.
    /// `excluding` holds servers this request already failed on.
    func pick(now: UInt64, excluding tried: UInt64) -> Server? {
        var best: Server?
        var total = 0
        for server in servers where server.ejectedUntil <= now && tried & server.triedBit == 0 {
            server.currentWeight += server.config.weight
            total += server.config.weight
            if server.currentWeight > best?.currentWeight ?? Int.min { best = server }
        }
        best?.currentWeight -= total
        return best
    }

    /// Passive health: `max_fails` failures in a row eject the server for `fail_timeout`.
    func reportFailure(_ server: Server, now: UInt64) {
        server.fails += 1
        // Like nginx, a group's only server is never ejected: refusing everyone helps nobody.
        if servers.count > 1 && server.config.maxFails > 0 && server.fails >= server.config.maxFails {
            server.ejectedUntil = now + UInt64(server.config.failTimeoutMs)
            server.fails = 0
            Log.warn("upstream \(config.name) server \(server.label) ejected for \(server.config.failTimeoutMs) ms")
        }
    }

    func reportSuccess(_ server: Server) {
        server.fails = 0
    }

    /// The most recently used idle connection: it is the least likely to have been closed by the server.
    func takeIdle(_ server: Server) -> UpstreamConnection? {
        server.idle.popLast()
    }

    func keepIdle(_ connection: UpstreamConnection) -> Bool {
        let server = connection.server
        if server.idle.count >= config.keepalive { return false }
        server.idle.append(connection)
        return true
    }

    func forgetIdle(_ connection: UpstreamConnection) {
        let server = connection.server
        if let i = server.idle.firstIndex(where: { $0 === connection }) { server.idle.remove(at: i) }
    }
}
