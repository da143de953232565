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
            if !verified || Socket.isQuiet(connection.fd) { return connection }
            connection.close()
        }
        return nil
    }

    func keepIdle(_ connection: UpstreamConnection) -> Bool {
        let server = connection.link.server.index
        if idle[server].count >= config.keepalive { return false }
        idle[server].append(connection)
        published(server)
        return true
    }

    func forgetIdle(_ connection: UpstreamConnection) {
        let server = connection.link.server.index
        if let i = idle[server].firstIndex(where: { $0 === connection }) { idle[server].remove(at: i) }
        published(server)
    }

    private func published(_ server: Int) {
        metrics?.setPooled(group: group, server: server, count: idle[server].count)
    }
}
