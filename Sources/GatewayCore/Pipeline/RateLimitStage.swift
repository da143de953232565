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
            return verdict.admitted ? .proceed : .reject(Self.error(verdict, own?.rate, routeBucket?.rate))
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
        return verdict.admitted ? .proceed : .reject(Self.error(verdict, own?.rate, routeBucket?.rate))
    }

    /// Names the bucket that ran dry (the first one when both did).
    private static func error(_ verdict: BucketVerdict, _ first: TokenRate?, _ second: TokenRate?) -> GatewayError {
        let rate = verdict.first?.remaining == 0 ? first! : second ?? first!
        return PolicyErrors.rateLimited(rate, waitMs: verdict.waitMs)
    }
}
