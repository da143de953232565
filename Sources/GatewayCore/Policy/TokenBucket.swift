/// Token-bucket arithmetic as GCRA in scaled integer time, so it is exact for any rate: one token
/// is `periodMs` units and the bucket refills `count` units per ms. A bucket is the single number
/// `end`, the scaled moment at which it is full again; a bucket nobody stored is full.
struct TokenBucket {
    let unit: UInt64
    let perMs: UInt64
    let capacity: UInt64

    init(_ rate: TokenRate) {
        unit = UInt64(rate.periodMs)
        perMs = UInt64(rate.count)
        capacity = UInt64(rate.burst) * unit
    }

    /// Tokens missing from a full bucket, in units, at `nowMs`.
    func debt(end: UInt64, nowMs: UInt64) -> UInt64 {
        let now = nowMs * perMs
        return end > now ? end - now : 0
    }

    /// 0 when a token can be taken now, otherwise the ms until one can.
    func waitMs(end: UInt64, nowMs: UInt64) -> UInt64 {
        let after = debt(end: end, nowMs: nowMs) + unit
        return after <= capacity ? 0 : Self.ceilDiv(after - capacity, perMs)
    }

    /// The bucket after taking one token (the caller checked `waitMs` is 0).
    func take(end: UInt64, nowMs: UInt64) -> UInt64 {
        max(end, nowMs * perMs) + unit
    }

    func remaining(end: UInt64, nowMs: UInt64) -> Int64 {
        Int64((capacity - min(capacity, debt(end: end, nowMs: nowMs))) / unit)
    }

    func msUntilFull(end: UInt64, nowMs: UInt64) -> UInt64 {
        Self.ceilDiv(debt(end: end, nowMs: nowMs), perMs)
    }

    /// Ms until the bucket holds one more whole token than now (0 when it is full). For an
    /// empty bucket this is `waitMs`: the moment the next request would be admitted.
    func msUntilNextToken(end: UInt64, nowMs: UInt64) -> UInt64 {
        let owed = debt(end: end, nowMs: nowMs)
        if owed == 0 { return 0 }
        let whole = (capacity - min(capacity, owed)) / unit
        return Self.ceilDiv(owed - (capacity - (whole + 1) * unit), perMs)
    }

    /// A bucket stored under another rate (the configuration was reloaded), expressed in this
    /// one's units with the same share of it empty: a bucket that was empty stays empty, so a
    /// client at its limit is still limited. Rounded towards empty.
    func rescaled(end: UInt64, perMs oldPerMs: UInt64, capacity oldCapacity: UInt64, nowMs: UInt64) -> UInt64 {
        let oldDebt = end > nowMs * oldPerMs ? end - nowMs * oldPerMs : 0
        let share = min(1, Double(oldDebt) / Double(oldCapacity))
        return nowMs * perMs + UInt64((share * Double(capacity)).rounded(.up))
    }

    static func ceilDiv(_ a: UInt64, _ b: UInt64) -> UInt64 { (a + b - 1) / b }
}
