import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids, metric block, access log buffer), the per-loop upstream pools and
/// the TLS contexts. Never touched by another thread.
final class WorkerContext {
    let loop: EventLoop
    let environment: ExchangeEnvironment
    /// One per upstream group, in the balancers' order.
    let pools: [UpstreamPool]
    /// The active checks this loop runs (each checked server has exactly one loop checking it).
    let healthCheckers: [HealthChecker]
    /// What `ssl` listeners hand new connections; replacing it (a reload, on this loop's thread)
    /// changes new connections only: each open one holds the context it started with.
    var serverTLS: TLSServerContext?

    /// `index`: this loop's place among `loops`, which decides the servers whose checks it runs.
    init(config: GatewayConfig, addresses: ResolvedAddresses, tls: TLSContexts, pipeline: RequestPipeline,
         health: UpstreamHealthTable, index: Int, loops: Int, observers: Observers, engine: Poller.Engine) throws(SystemError) {
        let limits = config.client
        // One buffer size for both sides: it must hold the largest head either side may send.
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(limits.maxHeaderSize, max)
        loop = try EventLoop(bufferSize: max(64 * 1024, largestHead + 1024), engine: engine)
        // Each loop balances over the process's shared health objects, in the pipeline's group order.
        let balancers = health.groups.map { UpstreamBalancer(health: $0) }
        let layout = MetricsLayout(pipeline: pipeline, balancers: balancers)
        let metrics = observers.registry?.makeLoopMetrics(layout)
        let accessLog = observers.accessLog.map { [loop] in
            LoopAccessLog(writer: $0, loop: loop, encoder: AccessLogEncoder(format: observers.accessLogFormat, layout: layout))
        }
        environment = ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers,
                                          seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                          log: { level, message in level == .info ? Log.info(message) : Log.warn(message) },
                                          metrics: metrics, accessLog: accessLog, clock: loop.clock)
        pools = balancers.enumerated().map { group, balancer in
            UpstreamPool(group: group, balancer: balancer, addresses: addresses.servers[balancer.config.name, default: []].map(\.address),
                         metrics: metrics, tls: tls.upstreams[balancer.config.name])
        }
        healthCheckers = HealthChecker.start(for: pools, on: loop, share: index, of: loops)
        serverTLS = tls.server
    }
}
