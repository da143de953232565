/// The shared state of the client policies (keys, buckets, in-flight counters, quotas), built
/// once from the configuration and used by every event loop through the policy stages.
public final class ClientPolicies: Sendable {
    public let keys: KeyDirectory
    public let policies: [KeyPolicy]
    public let scopeNames: [String]
    public let anonymousRate: TokenRate?
    public let headerStyle: RateLimitHeaderStyle
    public let calendar: QuotaCalendar
    /// Buckets of authenticated keys, owned by key index.
    public let keyBuckets = BucketTable<UInt32>(shardHash: Sharded<Int>.hash)
    /// Buckets of anonymous clients, owned by client address.
    public let clientBuckets = BucketTable<[UInt8]>(shardHash: { $0.hashValue })
    public let concurrency: ConcurrencyGate
    public let quotas = QuotaBook()
    /// `RateLimit-Policy` list items, pre-rendered: one per policy, one per route (nil without a rate).
    let policyItems: [String?]
    let routeItems: [String?]

    public init(config: AccessConfig, routes: [RouteConfig]) {
        keys = config.keys
        policies = config.policies
        scopeNames = config.scopeNames
        anonymousRate = config.anonymousRate
        headerStyle = config.headers
        calendar = QuotaCalendar(resetOffsetMs: config.quotaResetOffsetMs)
        concurrency = ConcurrencyGate(globalLimit: config.globalConcurrency)
        policyItems = config.policies.map { p in p.limits.rate.map { RateLimitHeaders.policyItem(name: p.name, $0) } }
        routeItems = routes.map { r in r.rate.map { RateLimitHeaders.policyItem(name: r.prefix, $0) } }
    }
}
