/// Daily quota per key, on routes configured with `quota counts`. Checked last, so a request
/// refused by any earlier check never spends quota. Refunds: a request rejected by a later stage,
/// or whose upstream failed (gateway 502/503/504) or answered 5xx, gives its unit back; one the
/// client abandoned does not, since the upstream may have acted on it.
public final class QuotaStage: ExchangeStage {
    private let policies: ClientPolicies

    public init(policies: ClientPolicies) {
        self.policies = policies
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        guard context.apiKeyIdentity != nil, let limit = policies.policies[Int(context.apiKeyPolicy)].limits.dailyQuota,
              context.route!.config.quota.counts(context.method) else { return .proceed }
        let day = policies.calendar.day(wallMs: context.wallMillis)
        guard policies.quotas.charge(context.apiKeyOwner, limit: limit, day: day) else {
            context.limitedBy = .dailyQuota
            return .reject(GatewayError(.dailyMessageLimitReached, "Daily limit of \(limit) requests reached for this API key",
                                        details: [("limit", .int(Int(limit)))],
                                        retryAfterSeconds: policies.calendar.secondsUntilReset(wallMs: context.wallMillis)))
        }
        context.policyHolds.quotaDay = day
        return .proceed
    }

    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {
        guard let day = context.policyHolds.quotaDay else { return }
        context.policyHolds.quotaDay = nil
        if Self.refunds(end.outcome) { policies.quotas.refund(context.apiKeyOwner, day: day) }
    }

    static func refunds(_ outcome: ExchangeOutcome) -> Bool {
        switch outcome {
        case .rejected, .upstreamFailed: true
        case .completed(let status): status >= 500
        case .clientAborted: false
        }
    }
}
