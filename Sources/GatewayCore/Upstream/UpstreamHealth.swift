/// The shared health of the servers of one `upstream` block: every address of every `server` line,
/// in the order every loop's balancer and pool index them.
public final class UpstreamHealth: Sendable {
    public let config: UpstreamConfig
    public let servers: [ServerHealth]

    /// `members`: every address of every `server` line, as resolved before start.
    public init(config: UpstreamConfig, members: [(server: UpstreamServer, address: String)]) {
        self.config = config
        servers = members.map { ServerHealth(upstream: config.name, config: $0.server, address: $0.address, groupSize: members.count) }
    }

    /// One member per `server` line, named as written (no resolution: for tests and literal addresses).
    public convenience init(config: UpstreamConfig) {
        self.init(config: config, members: config.servers.map { ($0, "\($0.host):\($0.port)") })
    }

    /// At least one server would be picked: not every one is failing its checks or ejected.
    public func hasHealthyServer(now: UInt64) -> Bool {
        servers.contains { $0.isAvailable(now: now) }
    }
}

/// The health of every upstream group, made once per process and shared by all loops; the read
/// side of it is for the admin endpoints (`/metrics`, `/readyz`), from any thread, without locks.
/// `now` is the monotonic clock in milliseconds, the clock the loops eject by.
public final class UpstreamHealthTable: Sendable {
    /// In `RequestPipeline.upstreamNames` order: a route's group index is its index here.
    public let groups: [UpstreamHealth]

    public init(groups: [UpstreamHealth]) {
        self.groups = groups
    }

    /// Every server of every group, groups in order, servers in configuration order.
    public func snapshot(now: UInt64) -> [ServerHealthSnapshot] {
        groups.flatMap { group in group.servers.map { $0.snapshot(now: now) } }
    }

    /// Readiness: every upstream has at least one server in rotation.
    public func everyUpstreamHasHealthyServer(now: UInt64) -> Bool {
        groups.allSatisfy { $0.hasHealthyServer(now: now) }
    }
}
