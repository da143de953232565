/// The shared state of the client policies (keys, buckets, in-flight counters, quotas), built
/// once from the configuration and used by every event loop through the policy stages.
///
/// A reload builds new policies from the old ones: the state tables are the same objects, and a
/// key or route keeps the number its state is filed under (its `owner`, its bucket slot) while it
/// stays configured, whatever its new position; the state of keys and routes that are gone is
/// dropped. Requests admitted before the switch release into the same tables.
public final class ClientPolicies: Sendable {
    public let keys: KeyDirectory
    public let policies: [KeyPolicy]
    public let scopeNames: [String]
    public let anonymousRate: TokenRate?
    public let headerStyle: RateLimitHeaderStyle
    public let calendar: QuotaCalendar
    /// Buckets of authenticated keys, by state owner.
    public let keyBuckets: BucketTable<UInt32>
    /// Buckets of anonymous clients, by client address.
    public let clientBuckets: BucketTable<[UInt8]>
    public let concurrency: ConcurrencyGate
    /// `global_concurrency`: most requests in flight over all clients; nil: not counted.
    public let globalConcurrency: Int?
    public let quotas: QuotaBook
    /// Each route's bucket slot, by route index (slot 0 is the owner's own bucket).
    let routeSlots: [UInt16]
    /// `RateLimit-Policy` list items, pre-rendered: one per policy, one per route (nil without a rate).
    let policyItems: [String?]
    let routeItems: [String?]
    /// What the next configuration needs to carry the state over.
    private let slotsByPrefix: [String: UInt16]
    private let nextOwner: UInt32

    /// `replacing`: the policies of the running configuration, at a reload.
    public init(config: AccessConfig, routes: [RouteConfig], replacing previous: ClientPolicies? = nil) {
        var keys = config.keys
        var nextOwner = UInt32(keys.count)
        let slots = Self.routeSlots(routes, previous: previous)
        if let previous {
            nextOwner = previous.nextOwner
            let goneOwners = keys.inheritOwners(from: previous.keys, nextOwner: &nextOwner)
            let goneSlots = Set(previous.routeSlots).subtracting(slots)
            previous.keyBuckets.forget { owner, slot in goneOwners.contains(owner) || goneSlots.contains(slot) }
            previous.clientBuckets.forget { _, slot in goneSlots.contains(slot) }
            previous.concurrency.forget(goneOwners)
            previous.quotas.forget(goneOwners)
        }
        self.keys = keys
        self.nextOwner = nextOwner
        routeSlots = slots
        slotsByPrefix = Dictionary(zip(routes.map(\.prefix), slots), uniquingKeysWith: { first, _ in first })
        policies = config.policies
        scopeNames = config.scopeNames
        anonymousRate = config.anonymousRate
        headerStyle = config.headers
        calendar = QuotaCalendar(resetOffsetMs: config.quotaResetOffsetMs)
        keyBuckets = previous?.keyBuckets ?? BucketTable(shardHash: Sharded<Int>.hash)
        clientBuckets = previous?.clientBuckets ?? BucketTable(shardHash: { $0.hashValue })
        concurrency = previous?.concurrency ?? ConcurrencyGate()
        globalConcurrency = config.globalConcurrency
        quotas = previous?.quotas ?? QuotaBook()
        policyItems = config.policies.map { p in p.limits.rate.map { RateLimitHeaders.policyItem(name: p.name, $0) } }
        routeItems = routes.map { r in r.rate.map { RateLimitHeaders.policyItem(name: r.prefix, $0) } }
    }

    /// A prefix the previous configuration had keeps its slot; a new route takes the smallest
    /// number no route of either configuration uses, so it never inherits the buckets of a route
    /// this reload removes (a request admitted just before the switch may still refill one).
    /// 16 bits keep the bucket keys as cheap to hash as before reloads existed.
    private static func routeSlots(_ routes: [RouteConfig], previous: ClientPolicies?) -> [UInt16] {
        guard let previous else { return routes.indices.map { UInt16(truncatingIfNeeded: $0 + 1) } }
        var slots = routes.map { previous.slotsByPrefix[$0.prefix] }
        var taken = Set(previous.routeSlots).union(slots.compactMap { $0 })
        var candidate: UInt16 = 1
        for index in slots.indices where slots[index] == nil {
            while taken.contains(candidate) && candidate < .max { candidate += 1 }
            slots[index] = candidate
            taken.insert(candidate)
        }
        return slots.map { $0! }
    }
}
