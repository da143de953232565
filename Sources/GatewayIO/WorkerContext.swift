import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids), the per-loop upstream pools and the TLS contexts. Never touched
/// by another thread.
final class WorkerContext {
    let loop: EventLoop
    let environment: ExchangeEnvironment
    /// One per upstream group, in the balancers' order.
    let pools: [UpstreamPool]
    /// What `ssl` listeners hand new connections; replacing it (a reload, on this loop's thread)
    /// changes new connections only: each open one holds the context it started with.
    var serverTLS: TLSServerContext?

    init(config: GatewayConfig, addresses: ResolvedAddresses, tls: TLSContexts, pipeline: RequestPipeline) throws(SystemError) {
        let limits = config.client
        // One buffer size for both sides: it must hold the largest head either side may send.
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(limits.maxHeaderSize, max)
        loop = try EventLoop(bufferSize: max(64 * 1024, largestHead + 1024))
        // Every address a server name resolved to is a server of its group, in the pipeline's group order.
        let resolved = pipeline.upstreamNames.map { addresses.servers[$0] ?? [] }
        let balancers = zip(pipeline.upstreamNames, resolved).map { name, servers in
            UpstreamBalancer(config: config.upstreams[name] ?? UpstreamConfig(name: name),
                             servers: servers.map { UpstreamBalancer.Member(config: $0.config, address: $0.address.description) })
        }
        environment = ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers,
                                          seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                          log: { level, message in level == .info ? Log.info(message) : Log.warn(message) })
        pools = zip(balancers, resolved).enumerated().map { group, pair in
            UpstreamPool(group: group, balancer: pair.0, addresses: pair.1.map(\.address), tls: tls.upstreams[pair.0.config.name])
        }
        serverTLS = tls.server
    }
}
