/// One loop's choice among the servers of an `upstream` block: smooth weighted round-robin (as
/// in nginx) over the servers in rotation. Whether a server is in rotation is the process-wide
/// `ServerHealth` every loop shares (passive ejection, active checks); the round-robin weights
/// stay per loop, so picking never writes shared memory. Pure bookkeeping: the sockets and pools
/// live in the I/O layer, which refers to servers by their index here.
public final class UpstreamBalancer {
    public final class Server {
        public let health: ServerHealth
        public let index: Int
        /// `host:port` as configured, and the address when that is a name: for logs.
        public let label: String
        /// `host:port` as configured, sent as Host when a client (HTTP/1.0) sent none.
        public let hostHeader: [UInt8]
        /// This server's bit in an exchange's set of servers already tried.
        public let triedBit: UInt64
        /// Copied out of the configuration: `pick` reads it for every candidate of every request.
        let weight: Int
        var currentWeight = 0

        init(_ health: ServerHealth, index: Int) {
            self.health = health
            self.index = index
            label = health.label
            hostHeader = Array(health.configured.utf8)
            triedBit = 1 << UInt64(index % 64)
            weight = health.config.weight
        }

        public var config: UpstreamServer { health.config }
    }

    public let health: UpstreamHealth
    public let servers: [Server]
    public var config: UpstreamConfig { health.config }

    /// A loop's view of a group whose health every loop shares.
    public init(health: UpstreamHealth) {
        self.health = health
        servers = health.servers.enumerated().map { Server($1, index: $0) }
    }

    /// A balancer with health of its own, over the `server` lines as written (tests, one loop).
    public convenience init(config: UpstreamConfig) {
        self.init(health: UpstreamHealth(config: config))
    }

    /// Whether `pick` would find a server, without moving the round-robin weights.
    public func hasCandidate(now: UInt64, excluding tried: UInt64) -> Bool {
        servers.contains { tried & $0.triedBit == 0 && $0.health.isAvailable(now: now) }
    }

    /// The next server, skipping those out of rotation and those in `tried` (already failed for this request).
    public func pick(now: UInt64, excluding tried: UInt64) -> Server? {
        var best: Server?
        var total = 0
        for server in servers where tried & server.triedBit == 0 && server.health.isAvailable(now: now) {
            server.currentWeight += server.weight
            total += server.weight
            if server.currentWeight > best?.currentWeight ?? Int.min { best = server }
        }
        best?.currentWeight -= total
        return best
    }

    /// Counts a failure (for every loop); true when it ejected the server.
    public func reportFailure(_ server: Server, now: UInt64) -> Bool {
        server.health.reportFailure(now: now)
    }

    public func reportSuccess(_ server: Server) {
        server.health.reportSuccess()
    }
}
