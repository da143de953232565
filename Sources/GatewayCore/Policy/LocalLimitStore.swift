/// The client limits kept in this process (`store local;`): the sharded bucket table, concurrency
/// gate and quota book of `ClientPolicies`, answered at once. Buckets are checked and taken
/// first (a bucket refusal takes nothing); a concurrency or quota refusal after that gives back
/// the slots it took, while the tokens stay spent, as a request refused for concurrency still
/// used the rate it was allowed.
public final class LocalLimitStore: LimitStore {
    private let policies: ClientPolicies

    public init(policies: ClientPolicies) {
        self.policies = policies
    }

    public var failsOpen: Bool { true }

    public func admit(_ request: LimitRequest, context: RequestContext, stage: any StoreStage) -> LimitAnswer {
        let owner = context.apiKeyOwner
        var buckets = BucketVerdict(waitMs: 0)
        let own = request.keyRate.map { (slot: UInt16(0), rate: $0) }
        if own != nil || request.routeRate != nil {
            buckets = policies.keyBuckets.take(owner, own, request.routeRate, nowMs: context.monotonicMillis)
            if !buckets.admitted {
                return .now(.refused(buckets.first?.remaining == 0 ? .keyRate : .routeRate, buckets, retryAfterMs: buckets.waitMs))
            }
        }
        let gate = policies.concurrency
        if let limit = request.globalConcurrency {
            guard gate.acquireGlobal(limit: limit) else { return .now(.refused(.globalConcurrency, buckets, retryAfterMs: 1000)) }
            context.policyHolds.globalSlot = true
        }
        if let limit = request.keyConcurrency {
            guard gate.acquire(owner, limit: limit) else {
                release(context, refund: false)
                return .now(.refused(.keyConcurrency, buckets, retryAfterMs: 1000))
            }
            context.policyHolds.keySlot = true
        }
        if let limit = request.dailyQuota {
            let day = policies.calendar.day(wallMs: context.wallMillis)
            guard policies.quotas.charge(owner, limit: limit, day: day) else {
                release(context, refund: false)
                let resetMs = UInt64(policies.calendar.secondsUntilReset(wallMs: context.wallMillis)) * 1000
                return .now(.refused(.dailyQuota, buckets, retryAfterMs: resetMs))
            }
            context.policyHolds.quotaDay = day
        }
        return .now(.admitted(buckets))
    }

    public func decision(from reply: StoreReply, _ request: LimitRequest, context: RequestContext) -> LimitDecision {
        .unavailable("the local store never answers later")
    }

    public func release(_ context: RequestContext, refund: Bool) {
        let holds = context.policyHolds
        context.policyHolds = PolicyHolds()
        if holds.keySlot { policies.concurrency.release(context.apiKeyOwner) }
        if holds.globalSlot { policies.concurrency.releaseGlobal() }
        if refund, let day = holds.quotaDay { policies.quotas.refund(context.apiKeyOwner, day: day) }
    }

    public func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {}
}
