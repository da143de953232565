/// The client limits of one request, checked and taken together by the limit store: token
/// buckets (the key's own, from its plan or override, stacked with the route's), concurrency (per
/// key and `global_concurrency`) and the daily quota (on routes with `quota counts`). The first
/// limit that refuses answers, in that order. Anonymous requests on public routes draw from their
/// client address's bucket (always in this process) and share the global concurrency cap.
/// Authenticated requests get the RateLimit headers. Slots and quota are given back in
/// `onComplete`, which the pipeline calls exactly once however the exchange ends.
public final class LimitStage: StoreStage {
    private let policies: ClientPolicies
    private let store: any LimitStore
    /// By route index: the route's `response_timeout` plus a margin (`LimitStage.leaseMarginMs`).
    private let leaseMs: [Int64]
    private let retryAfterDefault: Int

    /// A slot's lease outlives the longest a healthy request waits for its upstream by this much.
    public static let leaseMarginMs: Int64 = 2_000

    public init(policies: ClientPolicies, store: any LimitStore, leaseMs: [Int64], retryAfterDefault: Int) {
        self.policies = policies
        self.store = store
        self.leaseMs = leaseMs
        self.retryAfterDefault = retryAfterDefault
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        if context.apiKeyIdentity == nil, let refusal = anonymousBucket(context) { return refusal }
        let request = limits(context)
        if request.isEmpty { return .proceed }
        switch store.admit(request, context: context, stage: self) {
        case .now(let decision): return decide(decision, request, context)
        case .later: return .suspend
        }
    }

    public func storeReplied(_ reply: StoreReply, context: RequestContext) -> StageVerdict {
        let request = limits(context)
        return decide(store.decision(from: reply, request, context: context), request, context)
    }

    public func storeAbandoned(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {
        store.abandon(reply, undo: undo, link: link)
    }

    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {
        guard !context.policyHolds.isEmpty else { return }
        store.release(context, refund: Self.refunds(end.outcome))
    }

    /// A request rejected by a later stage, or whose upstream failed (gateway 502/503/504) or
    /// answered 5xx, gives its quota unit back; one the client abandoned does not, since the
    /// upstream may have acted on it.
    static func refunds(_ outcome: ExchangeOutcome) -> Bool {
        switch outcome {
        case .rejected, .upstreamFailed: true
        case .completed(let status): status >= 500
        case .clientAborted: false
        }
    }

    /// What applies to this request; the same answer every time it is asked for one request.
    private func limits(_ context: RequestContext) -> LimitRequest {
        let route = context.route!
        let routeRate = route.config.rate.map { (slot: policies.routeSlots[route.index], rate: $0) }
        var request = LimitRequest(globalConcurrency: policies.globalConcurrency, leaseMs: leaseMs[route.index])
        guard context.apiKeyIdentity != nil else { return request }
        let limits = policies.policies[Int(context.apiKeyPolicy)].limits
        request.keyRate = limits.rate
        request.routeRate = routeRate
        request.keyConcurrency = limits.concurrency
        if route.config.quota.counts(context.method) { request.dailyQuota = limits.dailyQuota }
        return request
    }

    /// The client address's own bucket (and the route's, per address), kept in this process.
    private func anonymousBucket(_ context: RequestContext) -> StageVerdict? {
        let route = context.route!
        let routeBucket = route.config.rate.map { (slot: policies.routeSlots[route.index], rate: $0) }
        let own = policies.anonymousRate.map { (slot: UInt16(0), rate: $0) }
        if own == nil && routeBucket == nil { return nil }
        let verdict = policies.clientBuckets.take(context.clientAddress, own, routeBucket, nowMs: context.monotonicMillis)
        context.rateLimitRemaining = Self.tightest(verdict)
        if verdict.admitted { return nil }
        let limit: PolicyLimit = verdict.first?.remaining == 0 ? .clientRate : .routeRate
        context.limitedBy = limit
        return .reject(PolicyErrors.rateLimited(limit == .clientRate ? own!.rate : routeBucket?.rate ?? own!.rate, waitMs: verdict.waitMs))
    }

    private func decide(_ decision: LimitDecision, _ request: LimitRequest, _ context: RequestContext) -> StageVerdict {
        switch decision {
        case .admitted(let buckets):
            note(buckets, request, context)
            return .proceed
        case .refused(let limit, let buckets, let retryAfterMs):
            note(buckets, request, context)
            context.limitedBy = limit
            switch limit {
            case .keyRate: return .reject(PolicyErrors.rateLimited(request.keyRate!, waitMs: retryAfterMs))
            case .routeRate, .clientRate: return .reject(PolicyErrors.rateLimited(request.routeRate!.rate, waitMs: retryAfterMs))
            case .globalConcurrency: return .reject(PolicyErrors.concurrency(global: true, request.globalConcurrency!))
            case .keyConcurrency: return .reject(PolicyErrors.concurrency(global: false, request.keyConcurrency!))
            case .dailyQuota: return .reject(PolicyErrors.quotaSpent(request.dailyQuota!, retryAfterMs: retryAfterMs))
            }
        case .unavailable:
            return store.failsOpen ? .proceed : .reject(PolicyErrors.storeUnavailable(retryAfterSeconds: retryAfterDefault))
        }
    }

    /// The RateLimit headers and, for the access log, what the tightest bucket still holds.
    private func note(_ buckets: BucketVerdict, _ request: LimitRequest, _ context: RequestContext) {
        if request.keyRate != nil || request.routeRate != nil { context.rateLimitRemaining = Self.tightest(buckets) }
        guard context.apiKeyIdentity != nil, policies.headerStyle != .off else { return }
        let policyIndex = Int(context.apiKeyPolicy), route = context.route!
        let first = request.keyRate.flatMap { rate in buckets.first.map { (policies.policyItems[policyIndex]!, policies.policies[policyIndex].name, rate, $0) } }
        let second = request.routeRate.flatMap { r in buckets.second.map { (policies.routeItems[route.index]!, route.config.prefix, r.rate, $0) } }
        RateLimitHeaders.add(policies.headerStyle, first, second, to: context)
    }

    private static func tightest(_ verdict: BucketVerdict) -> Int? {
        var remaining = verdict.first?.remaining
        if let second = verdict.second?.remaining { remaining = min(remaining ?? second, second) }
        return remaining.map(Int.init)
    }
}
