/// One loop's choice among the servers of an `upstream` block: smooth weighted round-robin (as
/// in nginx) over servers not ejected, and passive health (`max_fails` failures in a row eject a
/// server for `fail_timeout`). Pure bookkeeping: the sockets and pools live in the I/O layer,
/// which refers to servers by their index here.
public final class UpstreamBalancer {
    public final class Server {
        public let config: UpstreamServer
        public let index: Int
        /// `host:port`, for logs and for the Host header of HTTP/1.0 clients that sent none.
        public let label: String
        public let hostHeader: [UInt8]
        /// This server's bit in an exchange's set of servers already tried.
        public let triedBit: UInt64
        var currentWeight = 0
        var fails = 0
        var ejectedUntil: UInt64 = 0

        init(config: UpstreamServer, index: Int) {
            self.config = config
            self.index = index
            triedBit = 1 << UInt64(index % 64)
            label = "\(config.host):\(config.port)"
            hostHeader = Array(label.utf8)
        }
    }

    public let config: UpstreamConfig
    public let servers: [Server]

    public init(config: UpstreamConfig) {
        self.config = config
        servers = config.servers.enumerated().map { Server(config: $1, index: $0) }
    }

    /// Whether `pick` would find a server, without moving the round-robin weights.
    public func hasCandidate(now: UInt64, excluding tried: UInt64) -> Bool {
        servers.contains { $0.ejectedUntil <= now && tried & $0.triedBit == 0 }
    }

    /// The next server, skipping ejected ones and those in `tried` (already failed for this request).
    public func pick(now: UInt64, excluding tried: UInt64) -> Server? {
        var best: Server?
        var total = 0
        for server in servers where server.ejectedUntil <= now && tried & server.triedBit == 0 {
            server.currentWeight += server.config.weight
            total += server.config.weight
            if best == nil || server.currentWeight > best!.currentWeight { best = server }
        }
        best?.currentWeight -= total
        return best
    }

    /// Counts a failure; true when it ejected the server. Like nginx, a group's only server is
    /// never ejected: refusing everyone helps nobody.
    public func reportFailure(_ server: Server, now: UInt64) -> Bool {
        server.fails += 1
        guard servers.count > 1 && server.config.maxFails > 0 && server.fails >= server.config.maxFails else { return false }
        server.ejectedUntil = now + UInt64(server.config.failTimeoutMs)
        server.fails = 0
        return true
    }

    public func reportSuccess(_ server: Server) {
        server.fails = 0
    }
}
