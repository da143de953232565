import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids, metric block, access log buffer) and the per-loop upstream pools.
/// Never touched by another thread.
final class WorkerContext {
    let loop: EventLoop
    let environment: ExchangeEnvironment
    /// One per upstream group, in the balancers' order.
    let pools: [UpstreamPool]

    init(config: GatewayConfig, addresses: ResolvedAddresses, pipeline: RequestPipeline, observers: Observers) throws(SystemError) {
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
        let metrics = observers.registry?.makeLoopMetrics(MetricsLayout(pipeline: pipeline, balancers: balancers))
        let accessLog = observers.accessLog.map { [loop] in LoopAccessLog(writer: $0, loop: loop, format: observers.accessLogFormat) }
        environment = ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers,
                                          seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                          log: { level, message in level == .info ? Log.info(message) : Log.warn(message) },
                                          metrics: metrics, accessLog: accessLog, monotonicMicros: Clock.monotonicMicros)
        pools = zip(balancers, resolved).enumerated().map {
            UpstreamPool(group: $0, balancer: $1.0, addresses: $1.1.map(\.address), metrics: metrics)
        }
    }
}
