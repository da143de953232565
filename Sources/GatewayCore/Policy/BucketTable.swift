/// One bucket's state after a request, for the RateLimit headers.
public struct BucketStatus: Sendable, Equatable {
    public var remaining: Int64
    /// Until one more token is available (0 when full): RateLimit's `t`, and on an empty bucket
    /// the same instant as Retry-After.
    public var msUntilNextToken: UInt64
}

/// The answer for up to two stacked buckets (an owner's own and a route's).
public struct BucketVerdict: Sendable, Equatable {
    /// 0 when admitted; otherwise ms until every bucket holds a token again.
    public var waitMs: UInt64
    public var first: BucketStatus?
    public var second: BucketStatus?

    public var admitted: Bool { waitMs == 0 }
}

/// Token buckets of many owners (key indices, client IPs), sharded by owner. Each owner has
/// numbered slots (its own bucket, one per route); slots of one owner share a shard, so checking
/// all and then taking from all is atomic. Full buckets carry no information and are dropped.
public final class BucketTable<Owner: Hashable & Sendable>: Sendable {
    struct Key: Hashable, Sendable {
        var owner: Owner
        var slot: UInt16
    }

    struct Stored: Sendable {
        var end: UInt64
        /// Monotonic ms from which the bucket is full again and can be forgotten.
        var fullAtMs: UInt64
    }

    struct Shard: Sendable {
        var buckets: [Key: Stored] = [:]
        /// Forget full buckets once the shard grows to this many, so sweeping is amortised O(1).
        var sweepAt = BucketTable.minimumSweep
    }

    static var minimumSweep: Int { 256 }
    private let shards = Sharded { Shard() }
    private let shardHash: @Sendable (Owner) -> Int

    public init(shardHash: @escaping @Sendable (Owner) -> Int) {
        self.shardHash = shardHash
    }

    /// Takes one token from each given bucket, or from none if any is empty.
    public func take(_ owner: Owner, _ first: (slot: UInt16, rate: TokenRate)?, _ second: (slot: UInt16, rate: TokenRate)?,
                     nowMs: UInt64) -> BucketVerdict {
        shards.withShard(shardHash(owner)) { shard in
            let a = first.map { (Key(owner: owner, slot: $0.slot), TokenBucket($0.rate)) }
            let b = second.map { (Key(owner: owner, slot: $0.slot), TokenBucket($0.rate)) }
            let endA = a.map { shard.buckets[$0.0]?.end ?? 0 }
            let endB = b.map { shard.buckets[$0.0]?.end ?? 0 }
            let wait = max(a.map { $0.1.waitMs(end: endA!, nowMs: nowMs) } ?? 0,
                           b.map { $0.1.waitMs(end: endB!, nowMs: nowMs) } ?? 0)
            if wait > 0 {
                return BucketVerdict(waitMs: wait, first: a.map { Self.status($0.1, endA!, nowMs) },
                                     second: b.map { Self.status($0.1, endB!, nowMs) })
            }
            var verdict = BucketVerdict(waitMs: 0)
            if let (key, bucket) = a { verdict.first = Self.store(&shard, key, bucket, bucket.take(end: endA!, nowMs: nowMs), nowMs) }
            if let (key, bucket) = b { verdict.second = Self.store(&shard, key, bucket, bucket.take(end: endB!, nowMs: nowMs), nowMs) }
            if shard.buckets.count >= shard.sweepAt { Self.sweep(&shard, nowMs: nowMs) }
            return verdict
        }
    }

    /// Buckets currently remembered (full ones not yet swept included).
    public var storedCount: Int {
        (0..<Sharded<Shard>.count).reduce(0) { sum, i in sum + shards.withShard(i) { $0.buckets.count } }
    }

    private static func status(_ bucket: TokenBucket, _ end: UInt64, _ nowMs: UInt64) -> BucketStatus {
        BucketStatus(remaining: bucket.remaining(end: end, nowMs: nowMs), msUntilNextToken: bucket.msUntilNextToken(end: end, nowMs: nowMs))
    }

    private static func store(_ shard: inout Shard, _ key: Key, _ bucket: TokenBucket, _ end: UInt64, _ nowMs: UInt64) -> BucketStatus {
        shard.buckets[key] = Stored(end: end, fullAtMs: nowMs + bucket.msUntilFull(end: end, nowMs: nowMs))
        return status(bucket, end, nowMs)
    }

    private static func sweep(_ shard: inout Shard, nowMs: UInt64) {
        shard.buckets = shard.buckets.filter { $0.value.fullAtMs > nowMs }
        shard.sweepAt = max(minimumSweep, shard.buckets.count * 2)
    }
}
