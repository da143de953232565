/// Where the client limits' state lives: in this process (`LocalLimitStore`, the default) or in
/// Redis, shared by every instance (`RedisLimitStore`). The limit stage asks the same questions of
/// either and never learns which one answers; only the store knows whether its answer is
/// immediate or comes back through the request's `StoreLink`.
public protocol LimitStore: AnyObject, Sendable {
    /// Checks every limit of `request` and takes them all, or none. `.later`: the store sent the
    /// question and `decision(from:)` reads the answer when `stage` hears it.
    func admit(_ request: LimitRequest, context: RequestContext, stage: any StoreStage) -> LimitAnswer
    /// The decision a store reply carries (only for stores that answer `.later`).
    func decision(from reply: StoreReply, _ request: LimitRequest, context: RequestContext) -> LimitDecision
    /// Gives back what the request holds (its concurrency slots; its quota unit when `refund`).
    func release(_ context: RequestContext, refund: Bool)
    /// A request that left while waiting: undo what the reply says was taken for it.
    func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink)
    /// How unavailability is answered: true lets requests through unchecked.
    var failsOpen: Bool { get }
}

public enum LimitAnswer {
    case now(LimitDecision)
    case later
}

/// Every limit that applies to one request.
public struct LimitRequest {
    /// The key's own bucket (its plan's `rate`, or its override); nil for anonymous requests.
    public var keyRate: TokenRate?
    /// The route's per-key bucket, with the slot it is filed under in this process.
    public var routeRate: (slot: UInt16, rate: TokenRate)?
    public var keyConcurrency: Int?
    public var globalConcurrency: Int?
    public var dailyQuota: Int64?
    /// How long a concurrency slot held in a shared store lives unless renewed: the route's
    /// `response_timeout` plus a margin, so a crashed gateway's slots come back by themselves.
    public var leaseMs: Int64

    public init(keyRate: TokenRate? = nil, routeRate: (slot: UInt16, rate: TokenRate)? = nil, keyConcurrency: Int? = nil,
                globalConcurrency: Int? = nil, dailyQuota: Int64? = nil, leaseMs: Int64) {
        self.keyRate = keyRate
        self.routeRate = routeRate
        self.keyConcurrency = keyConcurrency
        self.globalConcurrency = globalConcurrency
        self.dailyQuota = dailyQuota
        self.leaseMs = leaseMs
    }

    public var isEmpty: Bool {
        keyRate == nil && routeRate == nil && keyConcurrency == nil && globalConcurrency == nil && dailyQuota == nil
    }
}

public enum LimitDecision: Equatable {
    /// Everything was taken; the buckets' state for the RateLimit headers.
    case admitted(BucketVerdict)
    /// The first limit that refused (nothing was taken), and when to retry.
    case refused(PolicyLimit, BucketVerdict, retryAfterMs: UInt64)
    /// The store could not answer; why, for the log.
    case unavailable(String)
}
