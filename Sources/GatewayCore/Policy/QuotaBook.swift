/// Requests counted per key (its state owner) per quota day, sharded by key. Only keys that spent something today
/// are stored; entries of past days are swept as the table grows.
public final class QuotaBook: Sendable {
    struct Usage: Sendable {
        var day: Int64
        var used: Int64
    }

    struct Shard: Sendable {
        var usage: [UInt32: Usage] = [:]
        var sweepAt = 256
    }

    private let shards = Sharded { Shard() }

    public init() {}

    /// Counts one request against `limit` for `day`; false, counting nothing, when it is spent.
    public func charge(_ key: UInt32, limit: Int64, day: Int64) -> Bool {
        shards.withShard(Sharded<Shard>.hash(key)) { shard in
            var usage = shard.usage[key] ?? Usage(day: day, used: 0)
            if usage.day != day { usage = Usage(day: day, used: 0) }
            guard usage.used < limit else { return false }
            usage.used += 1
            shard.usage[key] = usage
            if shard.usage.count >= shard.sweepAt {
                shard.usage = shard.usage.filter { $0.value.day >= day }
                shard.sweepAt = max(256, shard.usage.count * 2)
            }
            return true
        }
    }

    /// Gives back a request counted on `day` (nothing if that day is over).
    public func refund(_ key: UInt32, day: Int64) {
        shards.withShard(Sharded<Shard>.hash(key)) { shard in
            guard var usage = shard.usage[key], usage.day == day, usage.used > 0 else { return }
            usage.used -= 1
            shard.usage[key] = usage
        }
    }

    /// Drops the usage of keys that are gone.
    public func forget(_ keys: Set<UInt32>) {
        for index in 0..<Sharded<Shard>.count {
            shards.withShard(index) { shard in shard.usage = shard.usage.filter { !keys.contains($0.key) } }
        }
    }

    public func used(_ key: UInt32, day: Int64) -> Int64 {
        shards.withShard(Sharded<Shard>.hash(key)) { shard in
            guard let usage = shard.usage[key], usage.day == day else { return 0 }
            return usage.used
        }
    }
}

/// Quota days: UTC days shifted by the configured reset offset.
public struct QuotaCalendar: Sendable {
    static let dayMs: Int64 = 86_400_000
    public let resetOffsetMs: Int64

    public init(resetOffsetMs: Int64) {
        self.resetOffsetMs = resetOffsetMs
    }

    public func day(wallMs: UInt64) -> Int64 {
        (Int64(wallMs) - resetOffsetMs).floorDiv(Self.dayMs)
    }

    /// Whole seconds, rounded up, until `day` is over.
    public func secondsUntilReset(wallMs: UInt64) -> Int {
        let next = (day(wallMs: wallMs) + 1) * Self.dayMs + resetOffsetMs
        return Int((next - Int64(wallMs) + 999) / 1000)
    }
}

extension Int64 {
    fileprivate func floorDiv(_ d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
