import GatewayCore

/// The I/O side of one configuration on one loop, carried by its exchange environment
/// (`ExchangeEnvironment.ioResources`): the upstream pools its group numbers refer to, the metric
/// block and access log buffer its exchanges report to (labelled for its routes and upstreams),
/// and the active checks the loop runs for its servers. An exchange that started before a reload
/// still finds all of it; once the last one has ended and the environment goes, so does this: its
/// log lines are handed to the writer at once and its metric block is retired (the registry keeps
/// its counts, so counters never go back).
final class LoopGeneration {
    let pools: [UpstreamPool]
    private let metrics: LoopMetrics?
    private let registry: MetricsRegistry?
    private let accessLog: LoopAccessLog?
    private var healthCheckers: [HealthChecker]

    init(pools: [UpstreamPool], metrics: LoopMetrics?, registry: MetricsRegistry?, accessLog: LoopAccessLog?,
         healthCheckers: [HealthChecker]) {
        self.pools = pools
        self.metrics = metrics
        self.registry = registry
        self.accessLog = accessLog
        self.healthCheckers = healthCheckers
    }

    deinit {
        accessLog?.handOff()
        if let metrics { registry?.retire(metrics) }
    }

    /// The drain is over on this loop: its last lines go to the writer now, not in 100 ms.
    func flushAccessLog() {
        accessLog?.handOff()
    }

    /// A reload replaced this configuration by `newer` on the loop: idle upstream connections to
    /// servers that stay move to its pools (group by upstream name, server by address), and these
    /// checks stop, as `newer`'s own run from now on.
    func handOver(to newer: LoopGeneration) {
        for old in pools { old.handOver(to: newer.pools.first { $0.config.name == old.config.name }) }
        for checker in healthCheckers { checker.stop() }
        healthCheckers = []
    }
}
