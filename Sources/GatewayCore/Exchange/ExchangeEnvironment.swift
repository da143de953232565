/// What every connection of one event loop shares: the filter chain, the limits, the loop's view
/// of the upstream groups, the request-id generator, the Date line, and what observes the loop's
/// requests (its metric block and access log buffer). Used by one thread only.
///
/// One environment is one configuration on one loop. A reload gives the loop a new one and links
/// it as the old one's `successor`: a machine moves along that chain when it begins a request, so
/// exchanges in flight finish on the configuration they started with and later requests, on the
/// same connection or a new one, use the new configuration.
public final class ExchangeEnvironment {
    public enum LogLevel: Sendable { case info, warn }

    public let pipeline: RequestPipeline
    public let limits: ClientLimits
    public let headLimits: HeadLimits
    /// One per upstream group, in `pipeline.upstreamNames` order.
    public let balancers: [UpstreamBalancer]
    /// This loop's counters; nil without an admin listener (nothing would read them).
    public let metrics: LoopMetrics?
    /// This loop's access log buffer; nil with `access_log off`.
    let accessLog: (any AccessLogSink)?
    public let retryAfterDefault: Int
    /// Wall-clock milliseconds (request ids, Date, idempotency deadlines); injected, so tests own time.
    let wallClock: () -> UInt64
    /// Where the machine's log lines go.
    let log: (LogLevel, String) -> Void
    /// The loop's time, for the access log's and the histogram's timings; read only while
    /// something observes (`metrics` or `accessLog`).
    let clock: LoopClock
    /// The I/O layer's own per-configuration resources (its upstream pools, one per balancer),
    /// opaque here: an exchange that outlives a reload reaches the pools its group indices mean.
    public let ioResources: AnyObject?
    /// This loop's client of the shared store (`store redis://...`); nil with `store local`.
    let storeLink: (any StoreLink)?
    /// The environment that replaced this one at a reload; nil while this one is the loop's newest.
    public private(set) var successor: ExchangeEnvironment?
    private var requestIDs: RequestIDGenerator
    private var date = HTTPDateLine()
    /// Per-request state, lent to connections while they have a request in progress.
    public let slots: ExchangeSlots

    /// `balancers`: one per group in `pipeline.upstreamNames` order, over the resolved servers; by
    /// default one per group over its `server` lines as written.
    public init(config: GatewayConfig, pipeline: RequestPipeline, balancers: [UpstreamBalancer]? = nil, ioResources: AnyObject? = nil,
                seed: UInt64, wallClock: @escaping () -> UInt64, log: @escaping (LogLevel, String) -> Void,
                metrics: LoopMetrics? = nil, accessLog: (any AccessLogSink)? = nil, clock: LoopClock = LoopClock(),
                storeLink: (any StoreLink)? = nil) {
        self.pipeline = pipeline
        limits = config.client
        headLimits = HeadLimits(maxStartLine: limits.maxRequestLine, maxHeadSize: limits.maxHeaderSize, maxHeaders: limits.maxHeaders)
        self.balancers = balancers ?? pipeline.upstreamNames.map { UpstreamBalancer(config: config.upstreams[$0] ?? UpstreamConfig(name: $0)) }
        self.metrics = metrics
        self.accessLog = accessLog
        self.clock = clock
        retryAfterDefault = config.errors.retryAfterDefaultSeconds
        self.wallClock = wallClock
        self.log = log
        self.ioResources = ioResources
        self.storeLink = storeLink
        slots = ExchangeSlots(headLimits: headLimits)
        requestIDs = RequestIDGenerator(seed: seed)
    }

    /// Called by the loop that switches to `newer`; machines on this environment follow it when
    /// their next request begins.
    public func supersede(by newer: ExchangeEnvironment) {
        successor = newer
    }

    /// The end of the `successor` chain.
    var newest: ExchangeEnvironment {
        var newest = self
        while let next = newest.successor { newest = next }
        return newest
    }

    /// Starts a request's context: its clock readings, and the Date line every response carries.
    func reset(_ context: RequestContext, method: HTTPMethod, now: UInt64) {
        let wall = wallClock()
        context.reset(method: method, monotonicMillis: now, wallMillis: wall)
        context.storeLink = storeLink
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
