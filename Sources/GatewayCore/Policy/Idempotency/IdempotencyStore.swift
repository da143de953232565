import Synchronization

/// The idempotency entries of the whole gateway, shared by every event loop. Sharded by key hash,
/// one mutex per shard, so loops contend only when their keys share a shard; critical sections
/// are a dictionary probe and a few list links.
///
/// With a journal, a change's record is written while its shard is still locked (reservations
/// and responses are encoded and hashed before, so the journal's own lock covers one pwrite;
/// only the small removal records are encoded under the lock): the journal then
/// holds every key's changes in the order they happened, so a release racing the next request's
/// reservation of the same key can never be replayed in the wrong order. fsync, when the policy
/// asks for one per record, runs after the shard lock is released.
public final class IdempotencyStore: Sendable {
    public let limits: IdempotencyLimits
    private let shards: [ShardBox]
    let journal: IdempotencyJournal?

    /// `shardCount` is rounded up to a power of two; the memory budget is split evenly between shards.
    public init(limits: IdempotencyLimits, shardCount: Int = 64, journal: IdempotencyJournal? = nil) {
        var count = 1
        while count < shardCount { count <<= 1 }
        self.limits = limits
        self.journal = journal
        shards = (0..<count).map { _ in ShardBox(budget: limits.maxMemory / count) }
    }

    public enum Lookup: Sendable {
        case reserved(IdempotencyReservation)
        case inFlight
        case settled(SettledEntry)
    }

    /// A new reservation is journaled before the request goes anywhere, so a crash while it is in
    /// flight leaves the key "outcome unknown" on restart rather than free for a second execution.
    public func lookupOrReserve(_ key: IdempotencyCacheKey, now: UInt64) -> Lookup {
        let deadline = now &+ limits.ttlMs
        var frame = journal.map { _ in PreparedFrame(.reserved(key, deadline: deadline)) }
        let result = locked(key.hash) { shard, evicted -> IdempotencyShard.Lookup in
            let result = shard.lookupOrReserve(key, now: now, deadline: deadline, recordBytes: frame?.count ?? 0, evicted: &evicted)
            if case .reserved = result, frame != nil { journal?.write(&frame!) }
            return result
        }
        switch result {
        case .reserved(let token): return .reserved(IdempotencyReservation(key: key, token: token))
        case .inFlight: return .inFlight
        case .settled(let entry): return .settled(entry)
        }
    }

    /// Stores the final response of a reservation. One too big for a shard's budget would only
    /// evict everything else and then itself, so it is kept as "completed, not replayable".
    public func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint,
                         response: RecordedResponse, now: UInt64) {
        var outcome = SettledOutcome.notReplayable
        if case .replayable(let stored) = response, fits(reservation.key, stored) {
            outcome = .stored(stored)
        }
        settle(reservation, SettledEntry(outcome: outcome, fingerprint: fingerprint, deadline: now &+ limits.ttlMs), now: now)
    }

    /// Locked for the whole `ttl`, like a stored answer: the entry is what stops a second execution.
    public func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64) {
        settle(reservation, SettledEntry(outcome: .unknownOutcome, fingerprint: fingerprint, deadline: now &+ limits.ttlMs), now: now)
    }

    public func release(_ reservation: IdempotencyReservation) {
        locked(reservation.key.hash) { shard, _ in
            if shard.release(reservation) { journal?.write(.removed(reservation.key)) }
        }
    }

    /// Bytes charged against `max_memory` and live entries, summed over shards (read without their locks).
    public var usage: (bytes: Int, entries: Int) {
        shards.reduce(into: (0, 0)) { total, box in
            total.0 += box.published.bytes.load(ordering: .relaxed)
            total.1 += box.published.entries.load(ordering: .relaxed)
        }
    }

    /// The journal's counters, with how much of the file is live (latest records of the entries
    /// held); nil without a journal. For logs and compaction (it takes the journal's lock).
    public var journalStats: JournalStats? {
        guard let journal else { return nil }
        var stats = journal.stats
        stats.liveBytes = liveJournalBytes
        return stats
    }

    /// Size, evictions and the journal's counters for the metrics, without taking any lock a
    /// request takes: each shard and the journal publish theirs in atomics as they change.
    public var gauges: IdempotencyGauges {
        let (bytes, entries) = usage
        var journalStats = journal?.publishedStats
        journalStats?.liveBytes = liveJournalBytes
        return IdempotencyGauges(entries: entries, memoryBytes: bytes, memoryLimitBytes: limits.maxMemory,
                                 evictions: shards.reduce(0) { $0 &+ $1.published.evictions.load(ordering: .relaxed) },
                                 journal: journalStats)
    }

    private var liveJournalBytes: Int64 {
        Int64(JournalFrame.fileHeaderSize) + shards.reduce(into: Int64(0)) { $0 += Int64($1.published.journalBytes.load(ordering: .relaxed)) }
    }

    /// Start-up: one journal record, in journal order. The store keeps only each key's latest
    /// state and applies its usual rules as it goes (expired entries dropped, the memory budget
    /// enforced by evicting the least recently written), so loading never holds more than it will
    /// keep. A reservation without a later record is a request that was in flight when the
    /// gateway stopped: its outcome is unknown.
    func apply(_ record: JournalRecord, recordBytes: Int, now: UInt64) {
        switch record {
        case .settled(let key, let entry) where entry.deadline > now: restore(key, entry, recordBytes: recordBytes, now: now)
        case .reserved(let key, let deadline) where deadline > now:
            restore(key, SettledEntry(outcome: .unknownOutcome, fingerprint: nil, deadline: deadline), recordBytes: recordBytes, now: now)
        case .settled(let key, _), .reserved(let key, _), .removed(let key): shard(key.hash).update { $0.discard(key) }
        }
    }

    /// Drops expired entries in every shard (lookups do it only in the shard they touch), so a
    /// quiet store frees their memory and the journal's live size falls.
    public func purgeExpired(now: UInt64) {
        for box in shards { box.update { $0.purgeExpired(now: now) } }
    }

    /// A key's settled entry, looked at without reserving it (tests, diagnostics).
    func peek(_ key: IdempotencyCacheKey, now: UInt64) -> SettledEntry? {
        shard(key.hash).mutex.withLock { $0.peek(key, now: now) }
    }

    var shardCount: Int { shards.count }

    /// Records that rebuild one shard's live entries; the shard is locked only while they are gathered.
    func snapshot(shard index: Int, now: UInt64) -> [JournalRecord] {
        shards[index].mutex.withLock { $0.snapshot(now: now) }
    }

    /// Start-up: an entry read back from the journal (evictions it causes need no record: the
    /// rewrite that follows holds only what the store kept).
    private func restore(_ key: IdempotencyCacheKey, _ entry: SettledEntry, recordBytes: Int, now: UInt64) {
        var entry = entry
        if case .stored(let response) = entry.outcome, !fits(key, response) {
            entry = SettledEntry(outcome: .notReplayable, fingerprint: entry.fingerprint, deadline: entry.deadline)
        }
        var evicted: [IdempotencyCacheKey] = []
        shard(key.hash).update { $0.insert(key, entry, now: now, recordBytes: recordBytes, evicted: &evicted) }
    }

    private func fits(_ key: IdempotencyCacheKey, _ response: StoredResponse) -> Bool {
        IdempotencyShard.nodeCost(key) + response.memoryCost <= limits.maxMemory / shards.count
    }

    /// The settle record (a stored body can be large) is encoded and hashed before the lock.
    private func settle(_ reservation: IdempotencyReservation, _ entry: SettledEntry, now: UInt64) {
        var frame = journal.map { _ in PreparedFrame(.settled(reservation.key, entry)) }
        locked(reservation.key.hash) { shard, evicted in
            if shard.settle(reservation, as: entry, now: now, recordBytes: frame?.count ?? 0, evicted: &evicted), frame != nil {
                journal?.write(&frame!)
            }
        }
    }

    /// Runs `body` under the shard's lock, journals the keys it evicted while still holding it,
    /// then syncs as the policy says.
    private func locked<R>(_ hash: Int, _ body: (inout IdempotencyShard, inout [IdempotencyCacheKey]) -> R) -> R {
        var evicted: [IdempotencyCacheKey] = []
        let result = shard(hash).update { shard in
            let result = body(&shard, &evicted)
            if let journal { for key in evicted { journal.write(.removed(key)) } }
            return result
        }
        journal?.syncIfNeeded()
        return result
    }

    /// Syncs journal records appended since the last sync (the `interval` policy's background thread).
    public func flushJournal() {
        journal?.flush()
    }

    /// At an orderly exit: makes every record written so far durable, whatever the fsync policy.
    public func syncJournal() {
        journal?.syncUnsynced()
    }

    private func shard(_ hash: Int) -> ShardBox {
        shards[hash & (shards.count - 1)]
    }
}

/// Mutex is non-copyable, so it cannot be an array element itself.
private final class ShardBox: Sendable {
    let mutex: Mutex<IdempotencyShard>
    /// The shard's sizes as of its last change, for readers that must not take its lock.
    let published = PublishedShard()

    init(budget: Int) { mutex = Mutex(IdempotencyShard(budget: budget)) }

    /// A change under the lock, published before the lock is released.
    func update<R>(_ body: (inout IdempotencyShard) -> R) -> R {
        mutex.withLock { shard in
            let result = body(&shard)
            published.bytes.store(shard.bytesUsed, ordering: .relaxed)
            published.entries.store(shard.count, ordering: .relaxed)
            published.journalBytes.store(shard.journalBytes, ordering: .relaxed)
            published.evictions.store(shard.evictions, ordering: .relaxed)
            return result
        }
    }
}

/// Written only under the shard's lock, so relaxed stores are enough; read from anywhere.
private final class PublishedShard: Sendable {
    let bytes = Atomic<Int>(0)
    let entries = Atomic<Int>(0)
    let journalBytes = Atomic<Int>(0)
    let evictions = Atomic<UInt64>(0)
}

/// The store's sizes and lifetimes, from the `idempotency` block.
public struct IdempotencyLimits: Sendable, Equatable {
    public var ttlMs: UInt64
    public var maxMemory: Int
    public var maxResponseSize: Int

    public init(ttlMs: UInt64 = 86_400_000, maxMemory: Int = 256 << 20, maxResponseSize: Int = 1 << 20) {
        self.ttlMs = ttlMs
        self.maxMemory = maxMemory
        self.maxResponseSize = maxResponseSize
    }
}
