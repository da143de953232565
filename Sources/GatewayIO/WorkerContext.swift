import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids) and the per-loop upstream pools. Never touched by another thread.
final class WorkerContext {
    let loop: EventLoop
    let environment: ExchangeEnvironment
    /// One per upstream group, in the balancers' order.
    let pools: [UpstreamPool]

    init(config: GatewayConfig, pipeline: RequestPipeline) {
        let limits = config.client
        // One buffer size for both sides: it must hold the largest head either side may send.
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(limits.maxHeaderSize, max)
        loop = EventLoop(bufferSize: max(64 * 1024, largestHead + 1024))
        environment = ExchangeEnvironment(config: config, pipeline: pipeline, seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                          log: { level, message in level == .info ? Log.info(message) : Log.warn(message) })
        pools = environment.balancers.enumerated().map { UpstreamPool(group: $0, balancer: $1) }
    }
}
