/// Errors the policy stages answer with; Retry-After is always rounded up, never early.
enum PolicyErrors {
    static func rateLimited(_ rate: TokenRate, waitMs: UInt64) -> GatewayError {
        let seconds = rate.periodMs % 1000 == 0 ? "\(rate.periodMs / 1000) s" : "\(rate.periodMs) ms"
        return GatewayError(.rateLimitExceeded, "Rate limit exceeded: \(rate.count) requests per \(seconds)",
                            details: [("limit", .int(Int(rate.count))), ("window_s", .int(Int((rate.periodMs + 999) / 1000))),
                                      ("burst", .int(Int(rate.burst)))],
                            retryAfterSeconds: Int((waitMs + 999) / 1000))
    }
}
