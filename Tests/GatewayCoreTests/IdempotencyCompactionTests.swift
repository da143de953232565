import Dispatch
import Synchronization
import XCTest
@testable import GatewayCore

/// Online compaction of the idempotency journal, its trigger, and how failures are reported.
final class IdempotencyCompactionTests: XCTestCase {
    private let limits = IdempotencyLimits(ttlMs: 100_000)

    private static func key(_ name: String) -> IdempotencyCacheKey {
        IdempotencyCacheKey(identity: 1, routePrefix: "/v1/", key: bytes(name))
    }

    private func open(_ storage: JournalStorage, limits: IdempotencyLimits? = nil, shards: Int = 4) throws -> IdempotencyStore {
        let store = IdempotencyStore(limits: limits ?? self.limits, shardCount: shards,
                                     journal: IdempotencyJournal(storage: storage, policy: .never))
        _ = try JournalLoader.load(into: store, now: 0)
        return store
    }

    private func store(_ store: IdempotencyStore, _ name: String, body: String = "{}", now: UInt64 = 1_000) {
        guard case .reserved(let r) = store.lookupOrReserve(Self.key(name), now: now) else { return XCTFail("\(name) not reserved") }
        store.complete(r, fingerprint: fingerprint(""), response: response(201, body), now: now)
    }

    /// The live size is exactly what a compaction writes.
    func testLiveBytesTrackTheLatestRecordOfEveryEntry() throws {
        let storage = InMemoryJournalStorage()
        let live = try open(storage)
        for i in 0..<20 { store(live, "k\(i)", body: String(repeating: "x", count: i * 10)) }
        guard case .reserved(let released) = live.lookupOrReserve(Self.key("gone"), now: 1_000) else { return XCTFail() }
        live.release(released)
        _ = live.lookupOrReserve(Self.key("pending"), now: 1_000)
        let before = try XCTUnwrap(live.journalStats)
        XCTAssertGreaterThan(before.fileBytes, before.liveBytes, "reservations superseded, a release")
        try JournalCompactor.compact(live, now: 2_000)
        let after = try XCTUnwrap(live.journalStats)
        XCTAssertEqual(after.fileBytes, Int64(storage.bytes.count))
        XCTAssertEqual(after.liveBytes, after.fileBytes)
        XCTAssertEqual(after.liveBytes, before.liveBytes)
        XCTAssertEqual(after.compactions, 2, "start-up and this one")
    }

    func testCompactionIsDueOnceTheFileOutgrowsTwiceItsLiveData() throws {
        let storage = InMemoryJournalStorage()
        let live = try open(storage, limits: IdempotencyLimits(ttlMs: 10_000))
        let body = String(repeating: "b", count: 50_000)
        for i in 0..<30 { store(live, "k\(i)", body: body, now: 1_000) }
        var stats = try XCTUnwrap(live.journalStats)
        XCTAssertGreaterThan(stats.fileBytes, JournalCompactor.minimumFileBytes)
        XCTAssertFalse(JournalCompactor.isDue(stats), "everything written is live")
        XCTAssertNil(JournalCompactor.compactIfDue(live, now: 2_000))

        for i in 0..<30 { store(live, "k\(i)", body: body, now: 12_000) }  // the first ones expired: rewritten
        stats = try XCTUnwrap(live.journalStats)
        XCTAssertTrue(JournalCompactor.isDue(stats), "\(stats.fileBytes) > 2 x \(stats.liveBytes)")
        let result = try XCTUnwrap(JournalCompactor.compactIfDue(live, now: 12_500))
        XCTAssertEqual(result, .compacted(fromBytes: stats.fileBytes, toBytes: stats.liveBytes))
        XCTAssertEqual(Int64(storage.bytes.count), stats.liveBytes)

        let reloaded = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 10_000), shardCount: 4,
                                        journal: IdempotencyJournal(storage: storage, policy: .never))
        let report = try JournalLoader.load(into: reloaded, now: 13_000)
        XCTAssertEqual(report.bytesSkipped, 0)
        XCTAssertEqual(report.entriesRestored, 30)
    }

    /// Records appended while the compactor works (here: while it writes its snapshot) land in
    /// the new file, re-sealed for their new place.
    func testAppendsDuringCompactionAreKept() throws {
        let inner = InMemoryJournalStorage()
        let storage = HookedStorage(inner)
        let live = try open(storage)
        for i in 0..<10 { store(live, "before-\(i)") }
        guard case .reserved(let pending) = live.lookupOrReserve(Self.key("pending"), now: 1_000) else { return XCTFail() }
        storage.onReplacementWrite = { writes in
            guard writes == 2 else { return }  // after the header and the first snapshot record
            for i in 0..<10 { self.store(live, "during-\(i)") }
            live.release(pending)  // in the snapshot as a reservation, released since
        }
        try JournalCompactor.compact(live, now: 2_000)
        storage.onReplacementWrite = nil
        store(live, "after")

        let reloaded = IdempotencyStore(limits: limits, shardCount: 4, journal: IdempotencyJournal(storage: inner, policy: .never))
        let report = try JournalLoader.load(into: reloaded, now: 3_000)
        XCTAssertEqual(report.bytesSkipped, 0)
        XCTAssertEqual(report.problems, [])
        for i in 0..<10 { XCTAssertNotNil(reloaded.peek(Self.key("during-\(i)"), now: 3_000), "during-\(i)") }
        for i in 0..<10 { XCTAssertNotNil(reloaded.peek(Self.key("before-\(i)"), now: 3_000), "before-\(i)") }
        XCTAssertNil(reloaded.peek(Self.key("pending"), now: 3_000), "released during the compaction")
        XCTAssertNotNil(reloaded.peek(Self.key("after"), now: 3_000))
    }

    /// Loops hammer the store (reserve, store, lock, release, evict) while a thread compacts
    /// over and over; the journal then rebuilds exactly the store's entries.
    func testCompactionUnderConcurrentTrafficLosesNothing() throws {
        let storage = InMemoryJournalStorage()
        guard case .replayable(let sample) = response(201, "{}") else { return XCTFail() }
        let budget = 120 * (IdempotencyShard.nodeCost(Self.key("k-000")) + sample.memoryCost)  // evicts some of 300 keys
        let live = try open(storage, limits: IdempotencyLimits(ttlMs: 1_000_000, maxMemory: budget), shards: 8)
        let done = Atomic<Bool>(false)
        let compactions = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 5) { worker in
            if worker == 4 {
                while !done.load(ordering: .acquiring) {
                    if (try? JournalCompactor.compact(live, now: 1_000)) != nil { compactions.add(1, ordering: .relaxed) }
                }
                return
            }
            var random = SystemRandomNumberGenerator()
            for _ in 0..<1500 {
                let name = "k-\(Int.random(in: 0..<300, using: &random))"
                guard case .reserved(let r) = live.lookupOrReserve(Self.key(name), now: 1_000) else { continue }
                switch Int.random(in: 0..<3, using: &random) {
                case 0: live.complete(r, fingerprint: fingerprint(name), response: response(201, "{}"), now: 1_000)
                case 1: live.markUnknown(r, fingerprint: nil, now: 1_000)
                default: live.release(r)
                }
            }
            if worker == 0 {
                while compactions.load(ordering: .relaxed) < 3 { usleep(1000) }
                done.store(true, ordering: .releasing)
            }
        }
        XCTAssertGreaterThanOrEqual(compactions.load(ordering: .relaxed), 3)

        let reloaded = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 1_000_000, maxMemory: 1 << 30), shardCount: 8,
                                        journal: IdempotencyJournal(storage: storage, policy: .never))
        let report = try JournalLoader.load(into: reloaded, now: 2_000)
        XCTAssertEqual(report.bytesSkipped, 0)
        XCTAssertEqual(reloaded.usage.entries, live.usage.entries)
        for i in 0..<300 {
            let name = "k-\(i)"
            let a = live.peek(Self.key(name), now: 2_000), b = reloaded.peek(Self.key(name), now: 2_000)
            XCTAssertEqual(a == nil, b == nil, name)
            XCTAssertEqual(a?.isUnknownOutcome, b?.isUnknownOutcome, name)
            XCTAssertEqual(a?.fingerprint, b?.fingerprint, name)
        }
    }

    /// A full disk: the compaction gives up, the old journal stays as it was and keeps taking
    /// records, and the next attempt waits a minute.
    func testFailedCompactionKeepsTheOldJournal() throws {
        let storage = InMemoryJournalStorage()
        let live = try open(storage)
        for i in 0..<5 { store(live, "k\(i)") }
        let before = storage.bytes
        storage.capacity = 100  // the new file cannot take the snapshot
        XCTAssertThrowsError(try JournalCompactor.compact(live, now: 2_000))
        XCTAssertEqual(storage.bytes, before)
        let journal = try XCTUnwrap(live.journal)
        XCTAssertEqual(journal.stats.compactionFailures, 1)
        XCTAssertFalse(journal.mayCompact(now: 2_000 + JournalCompactor.retryDelayMs - 1))
        XCTAssertTrue(journal.mayCompact(now: 2_000 + JournalCompactor.retryDelayMs))
        storage.capacity = .max
        store(live, "k5")
        let reloaded = IdempotencyStore(limits: limits, shardCount: 4, journal: IdempotencyJournal(storage: storage, policy: .never))
        XCTAssertEqual(try JournalLoader.load(into: reloaded, now: 3_000).entriesRestored, 6)
    }

    /// One line when failures start, none while they go on, one when they have stopped.
    func testErrorsAreReportedOncePerBurst() {
        var reporter = JournalErrorReporter(quietMs: 10_000)
        var stats = JournalStats()
        XCTAssertNil(reporter.check(stats, now: 0))
        stats.writeErrors = 3
        stats.lastError = JournalIOError("write", path: "/var/lib/g.journal", code: 28)
        let first = reporter.check(stats, now: 1_000)
        XCTAssertEqual(first?.contains("No space left on device (errno 28)"), true, first ?? "")
        XCTAssertEqual(first?.contains("3 write"), true)
        stats.writeErrors = 50
        XCTAssertNil(reporter.check(stats, now: 2_000))
        XCTAssertNil(reporter.check(stats, now: 11_999))
        XCTAssertEqual(reporter.check(stats, now: 12_000), "idempotency journal: no failure for 10 s; 50 in the last burst")
        XCTAssertNil(reporter.check(stats, now: 13_000))
        stats.syncErrors = 1
        XCTAssertNotNil(reporter.check(stats, now: 14_000), "a new burst")
    }
}

/// Forwards to an in-memory journal, calling `onReplacementWrite` with the count of writes to
/// the compaction's new file so far.
private final class HookedStorage: JournalStorage, @unchecked Sendable {
    let inner: InMemoryJournalStorage
    var onReplacementWrite: ((Int) -> Void)?

    init(_ inner: InMemoryJournalStorage) { self.inner = inner }

    func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int {
        try inner.read(at: offset, maxBytes: maxBytes, into: &buffer)
    }
    func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) { try inner.write(bytes, at: offset) }
    func sync() throws(JournalIOError) { try inner.sync() }
    func size() throws(JournalIOError) -> Int64 { try inner.size() }
    func beginReplacement() throws(JournalIOError) -> any JournalReplacement {
        Hooked(try inner.beginReplacement(), owner: self)
    }

    private final class Hooked: JournalReplacement {
        let inner: any JournalReplacement
        unowned let owner: HookedStorage
        var writes = 0

        init(_ inner: any JournalReplacement, owner: HookedStorage) {
            self.inner = inner
            self.owner = owner
        }

        func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) {
            try inner.write(bytes, at: offset)
            writes += 1
            owner.onReplacementWrite?(writes)
        }
        func sync() throws(JournalIOError) { try inner.sync() }
        func commit() throws(JournalIOError) { try inner.commit() }
        func abandon() { inner.abandon() }
    }
}
