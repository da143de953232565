/// The shared health of the servers of one `upstream` block: every address of every `server` line,
/// in the order every loop's balancer and pool index them.
public final class UpstreamHealth: Sendable {
    public let config: UpstreamConfig
    public let servers: [ServerHealth]

    /// `members`: every address of every `server` line, as resolved before start. At a reload,
    /// `previous` is the group of the same name in the running configuration: a server it has
    /// with the same address and knobs keeps its health (ejection, check verdict) and so stays
    /// out of rotation if it was.
    public init(config: UpstreamConfig, members: [(server: UpstreamServer, address: String)], previous: UpstreamHealth? = nil) {
        self.config = config
        servers = members.map { member in
            let kept = previous?.servers.first { old in
                old.address == member.address && old.config == member.server && old.mayEject == ServerHealth.mayEject(member.server, members.count)
            }
            return kept ?? ServerHealth(upstream: config.name, config: member.server, address: member.address, groupSize: members.count)
        }
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
