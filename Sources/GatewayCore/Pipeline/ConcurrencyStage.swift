/// Caps requests in flight: per key (its plan's `concurrency`) and in total (`global_concurrency`).
/// Slots are taken on admission and released in `onComplete`, which the pipeline calls exactly
/// once however the exchange ends (completed, failed upstream, rejected later, client gone).
public final class ConcurrencyStage: ExchangeStage {
    private let policies: ClientPolicies
    private var gate: ConcurrencyGate { policies.concurrency }

    public init(policies: ClientPolicies) {
        self.policies = policies
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        if let limit = policies.globalConcurrency {
            guard gate.acquireGlobal(limit: limit) else {
                context.limitedBy = .globalConcurrency
                return .reject(Self.error("The gateway is at its limit of \(limit) concurrent requests", limit))
            }
            context.policyHolds.globalSlot = true
        }
        if context.apiKeyIdentity != nil, let limit = policies.policies[Int(context.apiKeyPolicy)].limits.concurrency {
            guard gate.acquire(context.apiKeyOwner, limit: limit) else {
                release(context)
                context.limitedBy = .keyConcurrency
                return .reject(Self.error("Too many concurrent requests: at most \(limit) in flight for this API key", limit))
            }
            context.policyHolds.keySlot = true
        }
        return .proceed
    }

    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {
        release(context)
    }

    private func release(_ context: RequestContext) {
        if context.policyHolds.keySlot { gate.release(context.apiKeyOwner) }
        if context.policyHolds.globalSlot { gate.releaseGlobal() }
        context.policyHolds.keySlot = false
        context.policyHolds.globalSlot = false
    }

    /// A slot frees as soon as any request in flight ends; one second is the shortest Retry-After.
    private static func error(_ message: String, _ limit: Int) -> GatewayError {
        GatewayError(.concurrentRequestLimitExceeded, message, details: [("limit", .int(limit))], retryAfterSeconds: 1)
    }
}
