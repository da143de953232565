/// Token buckets: the key's own (from its plan or override) stacked with the route's, checked
/// and taken together so a rejection takes nothing. Anonymous requests on public routes use the
/// client address's bucket instead. Authenticated requests get the RateLimit headers.
public final class RateLimitStage: ExchangeStage {
    private let policies: ClientPolicies

    public init(policies: ClientPolicies) {
        self.policies = policies
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        let route = context.route!
        let routeBucket = route.config.rate.map { (slot: policies.routeSlots[route.index], rate: $0) }
        guard context.apiKeyIdentity != nil else {
            let own = policies.anonymousRate.map { (slot: UInt16(0), rate: $0) }
            if own == nil && routeBucket == nil { return .proceed }
            let verdict = policies.clientBuckets.take(context.clientAddress, own, routeBucket, nowMs: context.monotonicMillis)
            return decide(verdict, own?.rate, routeBucket?.rate, ownLimit: .clientRate, context)
        }
        let policyIndex = Int(context.apiKeyPolicy)
        let policy = policies.policies[policyIndex]
        let own = policy.limits.rate.map { (slot: UInt16(0), rate: $0) }
        if own == nil && routeBucket == nil { return .proceed }
        let verdict = policies.keyBuckets.take(context.apiKeyOwner, own, routeBucket, nowMs: context.monotonicMillis)
        if policies.headerStyle != .off {
            let first = own.map { (policies.policyItems[policyIndex]!, policy.name, $0.rate, verdict.first!) }
            let second = routeBucket.map { (policies.routeItems[route.index]!, route.config.prefix, $0.rate, verdict.second!) }
            RateLimitHeaders.add(policies.headerStyle, first, second, to: context)
        }
        return decide(verdict, own?.rate, routeBucket?.rate, ownLimit: .keyRate, context)
    }

    /// Notes what the buckets hold (and which one refused) for the access log and the metrics.
    private func decide(_ verdict: BucketVerdict, _ first: TokenRate?, _ second: TokenRate?, ownLimit: PolicyLimit,
                        _ context: RequestContext) -> StageVerdict {
        var remaining = verdict.first?.remaining
        if let second = verdict.second?.remaining { remaining = min(remaining ?? second, second) }
        context.rateLimitRemaining = remaining.map(Int.init)
        if verdict.admitted { return .proceed }
        context.limitedBy = verdict.first?.remaining == 0 ? ownLimit : .routeRate
        return .reject(Self.error(verdict, first, second))
    }

    /// Names the bucket that ran dry (the first one when both did).
    private static func error(_ verdict: BucketVerdict, _ first: TokenRate?, _ second: TokenRate?) -> GatewayError {
        let rate = verdict.first?.remaining == 0 ? first! : second ?? first!
        return PolicyErrors.rateLimited(rate, waitMs: verdict.waitMs)
    }
}
