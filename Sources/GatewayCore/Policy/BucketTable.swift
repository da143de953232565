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

/// Token buckets of many owners (keys' state owners, client IPs), sharded by owner. Each owner has
/// numbered slots (its own bucket, one per route); slots of one owner share a shard, so checking
/// all and then taking from all is atomic. Full buckets carry no information and are dropped.
/// The table outlives reloads: a bucket remembers the rate it was stored under, and is rescaled
/// to the rate its next request is checked against.
public final class BucketTable<Owner: Hashable & Sendable>: Sendable {
    struct Key: Hashable, Sendable {
        var owner: Owner
        var slot: UInt16
    }

    struct Stored: Sendable {
        var end: UInt64
        /// Monotonic ms from which the bucket is full again and can be forgotten.
        var fullAtMs: UInt64
        /// The scale `end` is in: that of the rate the bucket was last taken from.
        var perMs: UInt64
        var capacity: UInt64
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
            let endA = a.map { Self.end(shard.buckets[$0.0], $0.1, nowMs) }
            let endB = b.map { Self.end(shard.buckets[$0.0], $0.1, nowMs) }
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

    /// Drops the buckets of owners and slots that are gone (keys and routes removed at a reload).
    public func forget(_ isGone: (Owner, UInt16) -> Bool) {
        for index in 0..<Sharded<Shard>.count {
            shards.withShard(index) { shard in shard.buckets = shard.buckets.filter { !isGone($0.key.owner, $0.key.slot) } }
        }
    }

    /// Buckets currently remembered (full ones not yet swept included).
    public var storedCount: Int {
        (0..<Sharded<Shard>.count).reduce(0) { sum, i in sum + shards.withShard(i) { $0.buckets.count } }
    }

    private static func status(_ bucket: TokenBucket, _ end: UInt64, _ nowMs: UInt64) -> BucketStatus {
        BucketStatus(remaining: bucket.remaining(end: end, nowMs: nowMs), msUntilNextToken: bucket.msUntilNextToken(end: end, nowMs: nowMs))
    }

    /// The bucket's `end` in `bucket`'s scale; a bucket nobody stored is full (0).
    private static func end(_ stored: Stored?, _ bucket: TokenBucket, _ nowMs: UInt64) -> UInt64 {
        guard let stored else { return 0 }
        if stored.perMs == bucket.perMs && stored.capacity == bucket.capacity { return stored.end }
        return bucket.rescaled(end: stored.end, perMs: stored.perMs, capacity: stored.capacity, nowMs: nowMs)
    }

    private static func store(_ shard: inout Shard, _ key: Key, _ bucket: TokenBucket, _ end: UInt64, _ nowMs: UInt64) -> BucketStatus {
        shard.buckets[key] = Stored(end: end, fullAtMs: nowMs + bucket.msUntilFull(end: end, nowMs: nowMs),
                                    perMs: bucket.perMs, capacity: bucket.capacity)
        return status(bucket, end, nowMs)
    }

    private static func sweep(_ shard: inout Shard, nowMs: UInt64) {
        shard.buckets = shard.buckets.filter { $0.value.fullAtMs > nowMs }
        shard.sweepAt = max(minimumSweep, shard.buckets.count * 2)
    }
}
