/// One loop's choice among the servers of an `upstream` block: smooth weighted round-robin (as
/// in nginx) over servers not ejected, and passive health (`max_fails` failures in a row eject a
/// server for `fail_timeout`). Pure bookkeeping: the sockets and pools live in the I/O layer,
/// which refers to servers by their index here.
public final class UpstreamBalancer {
    /// One address of a `server` line: a name with several addresses gives several members.
    public struct Member: Sendable {
        public var config: UpstreamServer
        /// The resolved address as text, for logs.
        public var address: String

        public init(config: UpstreamServer, address: String) {
            self.config = config
            self.address = address
        }
    }

    public final class Server {
        public let config: UpstreamServer
        public let index: Int
        /// `host:port` as configured, and the address when that is a name: for logs.
        public let label: String
        /// `host:port` as configured, sent as Host when a client (HTTP/1.0) sent none.
        public let hostHeader: [UInt8]
        /// This server's bit in an exchange's set of servers already tried.
        public let triedBit: UInt64
        var currentWeight = 0
        var fails = 0
        var ejectedUntil: UInt64 = 0

        init(_ member: Member, index: Int) {
            config = member.config
            self.index = index
            triedBit = 1 << UInt64(index % 64)
            let configured = config.host.contains(":") ? "[\(config.host)]:\(config.port)" : "\(config.host):\(config.port)"
            label = configured == member.address ? configured : "\(configured) (\(member.address))"
            hostHeader = Array(configured.utf8)
        }
    }

    public let config: UpstreamConfig
    public let servers: [Server]

    /// `servers`: every address of every `server` line, as resolved before start.
    public init(config: UpstreamConfig, servers: [Member]) {
        self.config = config
        self.servers = servers.enumerated().map { Server($1, index: $0) }
    }

    /// One member per `server` line, named as written (no resolution: for tests and literal addresses).
    public convenience init(config: UpstreamConfig) {
        self.init(config: config, servers: config.servers.map { Member(config: $0, address: "\($0.host):\($0.port)") })
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
            if server.currentWeight > best?.currentWeight ?? Int.min { best = server }
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
