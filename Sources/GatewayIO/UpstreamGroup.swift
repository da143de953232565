import GatewayCore

/// One loop's view of an `upstream` block: its servers, their passive health, and their idle
/// keep-alive connections. Per loop, so nothing here is shared between threads.
final class UpstreamGroup {
    final class Server {
        let config: UpstreamServer
        let address: SocketAddress
        let label: String
        /// `host:port`, sent as Host when a client (HTTP/1.0) sent none.
        let hostHeader: [UInt8]
        var currentWeight = 0
        var fails = 0
        var ejectedUntil: UInt64 = 0
        var idle: [UpstreamConnection] = []

        init(config: UpstreamServer, address: SocketAddress) {
            self.config = config
            self.address = address
            label = "\(config.host):\(config.port)"
            hostHeader = Array(label.utf8)
        }
    }

    let config: UpstreamConfig
    let servers: [Server]
    private let totalWeight: Int

    init(config: UpstreamConfig) {
        self.config = config
        servers = config.servers.map { Server(config: $0, address: SocketAddress(host: $0.host, port: $0.port)!) }
        totalWeight = servers.reduce(0) { $0 + $1.config.weight }
    }

    /// Smooth weighted round-robin (as in nginx) over servers that are not ejected.
    /// `excluding` holds servers this request already failed on.
    func pick(now: UInt64, excluding tried: UInt64) -> Server? {
        var best: Server?
        var total = 0
        for (i, server) in servers.enumerated() where server.ejectedUntil <= now && tried & (1 << UInt64(i % 64)) == 0 {
            server.currentWeight += server.config.weight
            total += server.config.weight
            if best == nil || server.currentWeight > best!.currentWeight { best = server }
        }
        best?.currentWeight -= total
        return best
    }

    func index(of server: Server) -> Int { servers.firstIndex { $0 === server } ?? 0 }

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
