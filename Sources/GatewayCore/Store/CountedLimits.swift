/// The limits of a keyed request that only count (its key's bucket, its route's bucket, the daily
/// quota when the route counts the method), as `store_sync local_burst` sees them. A local credit
/// is granted for one such set and spent only by requests with the very same set, so a request is
/// never admitted locally past a limit the answer behind the credit did not check; owed units are
/// charged to the set they were admitted under.
public struct CountedLimits: Equatable, Sendable {
    public var keyRate: TokenRate?
    /// The route's per-key bucket: its prefix names the Redis key ("" when the route has no rate).
    public var routePrefix: String
    public var routeRate: TokenRate?
    public var dailyQuota: Int64?
    /// `daily_quota_reset`: the day owed quota units are counted on.
    public var quotaResetOffsetMs: Int64

    public init(keyRate: TokenRate? = nil, routePrefix: String = "", routeRate: TokenRate? = nil, dailyQuota: Int64? = nil,
                quotaResetOffsetMs: Int64 = 0) {
        self.keyRate = keyRate
        self.routePrefix = routeRate == nil ? "" : routePrefix
        self.routeRate = routeRate
        self.dailyQuota = dailyQuota
        self.quotaResetOffsetMs = quotaResetOffsetMs
    }

    /// The least room the answer left in these limits (nil: it did not say for one of them).
    func room(after answer: LimitCommand.Answer) -> Int64? {
        var room = Int64.max
        if keyRate != nil { room = min(room, answer.buckets.first?.remaining ?? -1) }
        if routeRate != nil { room = min(room, answer.buckets.second?.remaining ?? -1) }
        if dailyQuota != nil { room = min(room, answer.quotaRemaining ?? -1) }
        return room >= 0 && room < .max ? room : nil
    }
}

/// Requests one loop admitted locally for a key and has not yet had charged in Redis, with the
/// limits they were admitted under.
public struct OwedUnits: Equatable, Sendable {
    public var units: Int
    public var limits: CountedLimits

    public init(units: Int, limits: CountedLimits) {
        self.units = units
        self.limits = limits
    }
}
