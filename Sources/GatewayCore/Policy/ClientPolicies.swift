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
    public let quotas: QuotaBook
    /// Each route's bucket slot, by route index (slot 0 is the owner's own bucket).
    let routeSlots: [UInt32]
    /// `RateLimit-Policy` list items, pre-rendered: one per policy, one per route (nil without a rate).
    let policyItems: [String?]
    let routeItems: [String?]
    /// What the next configuration needs to carry the state over.
    private let slotsByPrefix: [String: UInt32]
    private let nextOwner: UInt32
    private let nextSlot: UInt32

    /// `replacing`: the policies of the running configuration, at a reload.
    public init(config: AccessConfig, routes: [RouteConfig], replacing previous: ClientPolicies? = nil) {
        var keys = config.keys
        var nextOwner = UInt32(keys.count)
        var nextSlot = UInt32(routes.count + 1)
        var slots = routes.indices.map { UInt32($0 + 1) }
        if let previous {
            nextOwner = previous.nextOwner
            nextSlot = previous.nextSlot
            let goneOwners = keys.inheritOwners(from: previous.keys, nextOwner: &nextOwner)
            for (index, route) in routes.enumerated() {
                if let slot = previous.slotsByPrefix[route.prefix] {
                    slots[index] = slot
                } else {
                    slots[index] = nextSlot
                    nextSlot &+= 1
                }
            }
            let goneSlots = Set(previous.routeSlots).subtracting(slots)
            previous.keyBuckets.forget { owner, slot in goneOwners.contains(owner) || goneSlots.contains(slot) }
            previous.clientBuckets.forget { _, slot in goneSlots.contains(slot) }
            previous.concurrency.forget(goneOwners)
            previous.quotas.forget(goneOwners)
        }
        self.keys = keys
        self.nextOwner = nextOwner
        self.nextSlot = nextSlot
        routeSlots = slots
        slotsByPrefix = Dictionary(zip(routes.map(\.prefix), slots), uniquingKeysWith: { first, _ in first })
        policies = config.policies
        scopeNames = config.scopeNames
        anonymousRate = config.anonymousRate
        headerStyle = config.headers
        calendar = QuotaCalendar(resetOffsetMs: config.quotaResetOffsetMs)
        keyBuckets = previous?.keyBuckets ?? BucketTable(shardHash: Sharded<Int>.hash)
        clientBuckets = previous?.clientBuckets ?? BucketTable(shardHash: { $0.hashValue })
        concurrency = ConcurrencyGate(globalLimit: config.globalConcurrency, sharingCountsWith: previous?.concurrency)
        quotas = previous?.quotas ?? QuotaBook()
        policyItems = config.policies.map { p in p.limits.rate.map { RateLimitHeaders.policyItem(name: p.name, $0) } }
        routeItems = routes.map { r in r.rate.map { RateLimitHeaders.policyItem(name: r.prefix, $0) } }
    }
}
