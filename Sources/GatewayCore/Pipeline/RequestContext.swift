/// What the stages know about the request in flight on one client connection. One instance per
/// connection, reset per request, so the per-request path allocates nothing.
public final class RequestContext {
    public var requestID: [UInt8] = []
    public var clientAddress: [UInt8] = []
    public var method: HTTPMethod = .get
    public var route: CompiledRoute?
    /// Header lines (each ending in CRLF) that stages add to whatever response the client gets.
    public let extraResponseHeaders = ByteBuffer(capacity: 256)
    public var monotonicMillis: UInt64 = 0
    public var wallMillis: UInt64 = 0
    /// The authenticated API key: its index in the configured key list (stable while one
    /// configuration runs, so never persisted: the idempotency store uses the key's digest);
    /// nil when the request carries no valid key (public routes).
    public var apiKeyIdentity: UInt32?
    /// That key's resolved limits, an index into `AccessConfig.policies`.
    var apiKeyPolicy: UInt32 = 0
    /// That key's state owner (`KeyEntry.owner`): what its buckets, in-flight count and quota are filed under.
    var apiKeyOwner: UInt32 = 0
    /// Concurrency slots and quota the policy stages hold until `onComplete`.
    var policyHolds = PolicyHolds()
    /// How many stages of the route's chain let this request through: they, and only they, hear
    /// `onComplete`, in reverse order.
    var admittedStages = 0
    /// Set by a stage that wants the request body hashed as it streams (the idempotency key).
    public var requestDigest: RequestFingerprinter?
    /// Set by a stage that wants a copy of the answer the client gets (the idempotency key).
    public var responseCopy: ResponseRecorder?
    /// The idempotency key's reservation or settled entry, between its stage's calls.
    var idempotency: IdempotencyHold?
    /// This loop's way to the shared store (nil with `store local`), and the I/O object that
    /// resumes the request when a store reply comes in; both set when the request begins.
    var storeLink: (any StoreLink)?
    public internal(set) weak var waiter: AnyObject?
    /// What the limit command to the shared store carried for `store_sync local_burst`.
    var allowanceMark = LocalAllowance.Mark()
    /// Admitted from the loop's local allowance, without a round trip (for the metrics).
    var admittedLocally = false
    /// `gw:{<tag>}:` of the caller, built on first use in a request (`storePrefix(_:)`).
    var storeKeyPrefix: [UInt8] = []
    var storeKeyPrefixReady = false
    /// What the error stage took from an upstream error head it chose to rewrite.
    var upstreamErrorFacts: UpstreamErrorStage.HeadFacts?
    // For the access log and the metrics:
    /// The limit that refused the request, if one did.
    public var limitedBy: PolicyLimit?
    /// What the Idempotency-Key did.
    public var idempotencyOutcome = IdempotencyOutcome.none
    /// What the tightest token bucket the request passed still holds.
    public var rateLimitRemaining: Int?

    public init() {
        requestID.reserveCapacity(128)
    }

    public func reset(method: HTTPMethod, monotonicMillis: UInt64, wallMillis: UInt64) {
        self.method = method
        self.monotonicMillis = monotonicMillis
        self.wallMillis = wallMillis
        route = nil
        apiKeyIdentity = nil
        apiKeyPolicy = 0
        apiKeyOwner = 0
        policyHolds = PolicyHolds()
        admittedStages = 0
        requestDigest = nil
        responseCopy = nil
        idempotency = nil
        storeKeyPrefixReady = false
        allowanceMark = LocalAllowance.Mark()
        admittedLocally = false
        upstreamErrorFacts = nil
        limitedBy = nil
        idempotencyOutcome = .none
        rateLimitRemaining = nil
        extraResponseHeaders.clear()
    }

    public func addResponseHeader(_ name: StaticString, _ value: String) {
        extraResponseHeaders.append(name)
        extraResponseHeaders.append(": ")
        extraResponseHeaders.append(value)
        extraResponseHeaders.append("\r\n")
    }

    public var requestIDText: String { String(decoding: requestID, as: UTF8.self) }
}

