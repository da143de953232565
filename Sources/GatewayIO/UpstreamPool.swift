import GatewayCore

/// One loop's keep-alive connections to the servers of one `upstream` block, by server index
/// (the balancer in GatewayCore decides which server; this holds the sockets).
final class UpstreamPool {
    let group: Int
    let balancer: UpstreamBalancer
    let addresses: [SocketAddress]
    /// For each server spoken to over TLS: the block's TLS context and the host its certificate
    /// must name (SNI); nil for plain servers.
    let tls: [TLSTarget?]
    private var idle: [[UpstreamConnection]]
    /// A reload replaced this pool: connections still lent out when it happened come back here
    /// and go on to the same server in the `successor` pool (`servers[index]`), or close if
    /// that server, or the whole group, is gone.
    private var replaced = false
    private var successor: (pool: UpstreamPool, servers: [Int?])?
    /// The loop's metric block, told each server's idle count as it changes.
    private let metrics: LoopMetrics?

    struct TLSTarget {
        let context: TLSClientContext
        let host: String
    }

    /// `addresses` by server index, as the balancer's members were made.
    init(group: Int, balancer: UpstreamBalancer, addresses: [SocketAddress], metrics: LoopMetrics?, tls context: TLSClientContext?) {
        self.group = group
        self.balancer = balancer
        self.addresses = addresses
        self.metrics = metrics
        tls = balancer.servers.map { server in
            guard server.config.tls, let context else { return nil }
            return TLSTarget(context: context, host: server.config.host)
        }
        idle = Array(repeating: [], count: balancer.servers.count)
    }

    var config: UpstreamConfig { balancer.config }

    /// The most recently used idle connection: it is the least likely to have been closed by the
    /// server. `verified` checks with the kernel that it is still quiet (one recv): for a request
    /// that must not be retried, a connection the server already closed would mean a 502.
    func takeIdle(_ server: Int, verified: Bool) -> UpstreamConnection? {
        defer { published(server) }
        while let connection = idle[server].popLast() {
            if !verified || connection.isQuiet { return connection }
            connection.close()
        }
        return nil
    }

    func keepIdle(_ connection: UpstreamConnection) -> Bool {
        if replaced { return passOn(connection) }
        let server = connection.link.server.index
        if idle[server].count >= config.keepalive { return false }
        idle[server].append(connection)
        published(server)
        return true
    }

    /// Out of line, so `keepIdle` stays small enough to inline on every release.
    @inline(never)
    private func passOn(_ connection: UpstreamConnection) -> Bool {
        guard let (newer, servers) = successor, let moved = servers[connection.link.server.index] else { return false }
        connection.rebind(to: newer, server: moved)
        return newer.keepIdle(connection)
    }

    func forgetIdle(_ connection: UpstreamConnection) {
        let server = connection.link.server.index
        if let i = idle[server].firstIndex(where: { $0 === connection }) { idle[server].remove(at: i) }
        published(server)
    }

    private func published(_ server: Int) {
        metrics?.setPooled(group: group, server: server, count: idle[server].count)
    }

    /// A reload replaced this pool by `newer`, the pool of the same upstream name (nil: the
    /// group is gone). Idle plain connections to servers still configured move over; the others
    /// close, TLS ones too, as they were set up under the old certificates and settings.
    func handOver(to newer: UpstreamPool?) {
        replaced = true
        successor = newer.map { newer in
            (newer, addresses.indices.map { server in
                guard tls[server] == nil, let moved = newer.addresses.firstIndex(of: addresses[server]), newer.tls[moved] == nil else {
                    return nil
                }
                return moved
            })
        }
        let connections = idle.joined()
        idle = Array(repeating: [], count: idle.count)
        for server in idle.indices { published(server) }
        for connection in connections where !keepIdle(connection) { connection.close() }
    }
}
