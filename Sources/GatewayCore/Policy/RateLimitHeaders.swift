/// RateLimit headers (IETF httpapi draft form, legacy X-RateLimit-* trio, both or none).
/// A bucket of burst B refilled at R per period is announced as `q=B` per `w` = the seconds it
/// takes to refill B tokens, so q/w is the sustained rate and r never exceeds q.
enum RateLimitHeaders {
    static func policyItem(name: String, _ rate: TokenRate) -> String {
        "\"\(name)\";q=\(rate.burst);w=\(window(rate))"
    }

    static func window(_ rate: TokenRate) -> Int64 {
        max(1, (rate.burst * rate.periodMs + rate.count * 1000 - 1) / (rate.count * 1000))
    }

    /// One entry per bucket the request passed through: its policy item, rate and state.
    typealias Entry = (item: String, name: String, rate: TokenRate, status: BucketStatus)

    static func add(_ style: RateLimitHeaderStyle, _ first: Entry?, _ second: Entry?, to context: RequestContext) {
        if style == .ietf || style == .both {
            context.addResponseHeader("RateLimit-Policy", list(first, second) { $0.item })
            context.addResponseHeader("RateLimit", list(first, second) { "\"\($0.name)\";r=\($0.status.remaining);t=\(seconds($0.status))" })
        }
        if style == .legacy || style == .both, let tightest = tightest(first, second) {
            context.addResponseHeader("X-RateLimit-Limit", String(tightest.rate.burst))
            context.addResponseHeader("X-RateLimit-Remaining", String(tightest.status.remaining))
            context.addResponseHeader("X-RateLimit-Reset", String(seconds(tightest.status)))
        }
    }

    private static func seconds(_ status: BucketStatus) -> UInt64 { (status.msUntilFull + 999) / 1000 }

    private static func list(_ first: Entry?, _ second: Entry?, _ render: (Entry) -> String) -> String {
        switch (first, second) {
        case let (a?, b?): render(a) + ", " + render(b)
        case let (a?, nil), let (nil, a?): render(a)
        case (nil, nil): ""
        }
    }

    private static func tightest(_ first: Entry?, _ second: Entry?) -> Entry? {
        guard let a = first else { return second }
        guard let b = second else { return a }
        return b.status.remaining < a.status.remaining ? b : a
    }
}
