import GatewayCore

/// Everything the connections of one event loop share: the loop, the pipeline, the per-loop
/// upstream pools and the request-id generator. Never touched by another thread.
final class WorkerContext {
    let loop: EventLoop
    let pipeline: RequestPipeline
    let limits: ClientLimits
    let headLimits: HeadLimits
    let groups: [UpstreamGroup]
    let accessLog: Bool
    let retryAfterDefault: Int
    let idempotency: IdempotencyStage?
    private var requestIDs: RequestIDGenerator

    init(config: GatewayConfig, addresses: ResolvedAddresses, pipeline: RequestPipeline, idempotency: IdempotencyStage?) throws(SystemError) {
        self.idempotency = idempotency
        let limits = config.client
        self.limits = limits
        headLimits = HeadLimits(maxStartLine: limits.maxRequestLine, maxHeadSize: limits.maxHeaderSize, maxHeaders: limits.maxHeaders)
        // One buffer size for both sides: it must hold the largest head either side may send.
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(limits.maxHeaderSize, max)
        loop = try EventLoop(bufferSize: max(64 * 1024, largestHead + 1024))
        self.pipeline = pipeline
        // Indexed like the pipeline's names (the keys of `config.upstreams`), so both lookups always find one.
        groups = pipeline.upstreamNames.map { name in
            UpstreamGroup(config: config.upstreams[name] ?? UpstreamConfig(name: name), servers: addresses.servers[name] ?? [])
        }
        accessLog = config.accessLog
        retryAfterDefault = config.errors.retryAfterDefaultSeconds
        requestIDs = RequestIDGenerator(seed: UInt64.random(in: .min ... .max))
    }

    func nextRequestID(into id: inout [UInt8]) {
        id.removeAll(keepingCapacity: true)
        id.append(contentsOf: repeatElement(0, count: RequestIDGenerator.length))
        id.withUnsafeMutableBufferPointer { requestIDs.next(nowMillis: Clock.wallMillis(), into: $0.baseAddress!) }
    }
}
