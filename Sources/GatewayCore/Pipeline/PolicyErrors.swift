/// Errors the policy stages answer with; Retry-After is always rounded up, never early.
enum PolicyErrors {
    static func rateLimited(_ rate: TokenRate, waitMs: UInt64) -> GatewayError {
        let seconds = rate.periodMs % 1000 == 0 ? "\(rate.periodMs / 1000) s" : "\(rate.periodMs) ms"
        return GatewayError(.rateLimitExceeded, "Rate limit exceeded: \(rate.count) requests per \(seconds)",
                            details: [("limit", .int(Int(rate.count))), ("window_s", .int(Int((rate.periodMs + 999) / 1000))),
                                      ("burst", .int(Int(rate.burst)))],
                            retryAfterSeconds: Int((waitMs + 999) / 1000))
    }

    /// A slot frees as soon as any request in flight ends; one second is the shortest Retry-After.
    static func concurrency(global: Bool, _ limit: Int) -> GatewayError {
        let message = global ? "The gateway is at its limit of \(limit) concurrent requests"
            : "Too many concurrent requests: at most \(limit) in flight for this API key"
        return GatewayError(.concurrentRequestLimitExceeded, message, details: [("limit", .int(limit))], retryAfterSeconds: 1)
    }

    static func quotaSpent(_ limit: Int64, retryAfterMs: UInt64) -> GatewayError {
        GatewayError(.dailyMessageLimitReached, "Daily limit of \(limit) requests reached for this API key",
                     details: [("limit", .int(Int(limit)))], retryAfterSeconds: Int((retryAfterMs + 999) / 1000))
    }

    /// The shared store did not answer and the policy is to refuse rather than guess.
    static func storeUnavailable(retryAfterSeconds: Int) -> GatewayError {
        GatewayError(.serviceUnavailable, "The gateway's shared state store is unavailable; try again shortly",
                     details: [("reason", .string("store_unavailable"))], retryAfterSeconds: retryAfterSeconds)
    }
}
