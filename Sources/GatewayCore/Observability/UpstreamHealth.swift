/// Which upstream servers are in rotation, as `/readyz` and `gateway_upstream_server_up` report
/// it: by upstream group (`RequestPipeline.upstreamNames` order), then by server index, as the
/// newest `MetricsLayout` names them. Shared health (active checks) plugs in here.
public protocol UpstreamHealthSource: Sendable {
    func serversUp(nowMillis: UInt64) -> [[Bool]]
}

/// Passive health as it is tracked today, by each loop on its own: a server is up while at least
/// one loop has it in rotation (so that loop still sends it traffic). Each loop publishes when its
/// ejection ends in its metric block.
public struct PassiveHealth: UpstreamHealthSource {
    let registry: MetricsRegistry

    public init(registry: MetricsRegistry) {
        self.registry = registry
    }

    /// `nowMillis`: the monotonic clock the loops' deadlines use.
    public func serversUp(nowMillis: UInt64) -> [[Bool]] {
        guard let (layout, blocks) = registry.current() else { return [] }
        return layout.servers.indices.map { group in
            layout.servers[group].indices.map { server in
                let at = layout.server(group: group, server: server, .ejectedUntil)
                return blocks.isEmpty || blocks.contains { $0.value(at) <= nowMillis }
            }
        }
    }
}
