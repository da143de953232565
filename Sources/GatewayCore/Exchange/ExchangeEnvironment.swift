/// What every connection of one event loop shares: the filter chain, the limits, the loop's view
/// of the upstream groups, the request-id generator and the Date line. Used by one thread only.
public final class ExchangeEnvironment {
    public enum LogLevel: Sendable { case info, warn }

    public let pipeline: RequestPipeline
    public let limits: ClientLimits
    public let headLimits: HeadLimits
    /// One per upstream group, in `pipeline.upstreamNames` order.
    public let balancers: [UpstreamBalancer]
    public let accessLog: Bool
    public let retryAfterDefault: Int
    /// Wall-clock milliseconds (request ids, Date, idempotency deadlines); injected, so tests own time.
    let wallClock: () -> UInt64
    /// Where the machine's log lines go.
    let log: (LogLevel, String) -> Void
    private var requestIDs: RequestIDGenerator
    private var date = HTTPDateLine()
    /// Per-request state, lent to connections while they have a request in progress.
    public let slots: ExchangeSlots

    /// `balancers`: one per group in `pipeline.upstreamNames` order, over the resolved servers; by
    /// default one per group over its `server` lines as written.
    public init(config: GatewayConfig, pipeline: RequestPipeline, balancers: [UpstreamBalancer]? = nil, seed: UInt64,
                wallClock: @escaping () -> UInt64, log: @escaping (LogLevel, String) -> Void) {
        self.pipeline = pipeline
        limits = config.client
        headLimits = HeadLimits(maxStartLine: limits.maxRequestLine, maxHeadSize: limits.maxHeaderSize, maxHeaders: limits.maxHeaders)
        self.balancers = balancers ?? pipeline.upstreamNames.map { UpstreamBalancer(config: config.upstreams[$0] ?? UpstreamConfig(name: $0)) }
        accessLog = config.accessLog
        retryAfterDefault = config.errors.retryAfterDefaultSeconds
        self.wallClock = wallClock
        self.log = log
        slots = ExchangeSlots(headLimits: headLimits)
        requestIDs = RequestIDGenerator(seed: seed)
    }

    /// Starts a request's context: its clock readings, and the Date line every response carries.
    func reset(_ context: RequestContext, method: HTTPMethod, now: UInt64) {
        let wall = wallClock()
        context.reset(method: method, monotonicMillis: now, wallMillis: wall)
        context.extraResponseHeaders.append(date.line(epochSeconds: Int64(wall / 1000)))
    }

    /// A fresh id for the request `context` was just reset for, stamped with its wall-clock time,
    /// written in place: the id storage keeps its 26 bytes from one request to the next (only a
    /// client-supplied id in between resizes it).
    func mintRequestID(for context: RequestContext) {
        if context.requestID.count != RequestIDGenerator.length {
            context.requestID.removeAll(keepingCapacity: true)
            context.requestID.append(contentsOf: repeatElement(0, count: RequestIDGenerator.length))
        }
        let wall = context.wallMillis
        context.requestID.withUnsafeMutableBufferPointer { requestIDs.next(nowMillis: wall, into: $0.baseAddress!) }
    }
}
