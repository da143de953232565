import Foundation
import XCTest
@testable import GatewayCore

final class IdempotencyJournalTests: XCTestCase {
    private let limits = IdempotencyLimits(ttlMs: 100_000)

    private func key(_ name: String, identity: UInt32? = 1) -> IdempotencyCacheKey {
        IdempotencyCacheKey(identity: identity, routePrefix: "/v1/", key: bytes(name))
    }

    private func reserve(_ store: IdempotencyStore, _ name: String, identity: UInt32? = 1, now: UInt64 = 0) throws -> IdempotencyReservation {
        guard case .reserved(let r) = store.lookupOrReserve(key(name, identity: identity), now: now) else {
            throw XCTSkip("\(name) was not reserved")
        }
        return r
    }

    /// A journal with: a stored response, a completed-unreplayable key, an unknown outcome, an
    /// anonymous entry, and an entry that was written and then evicted.
    private func populate(_ storage: JournalStorage) throws {
        let store = IdempotencyStore(limits: limits, shardCount: 1, journal: IdempotencyJournal(storage: storage, policy: .always))
        store.complete(try reserve(store, "stored"), fingerprint: fingerprint("a"),
                       response: response(201, "{\"id\":1}", headers: "Location: /m/1\r\n"), now: 1_000)
        store.complete(try reserve(store, "big"), fingerprint: fingerprint("b"), response: .notReplayable(status: 200), now: 2_000)
        store.markUnknown(try reserve(store, "timeout"), fingerprint: nil, now: 3_000)
        store.complete(try reserve(store, "anon", identity: nil), fingerprint: fingerprint("c"), response: response(400), now: 4_000)
        store.release(try reserve(store, "released"))
    }

    private func restore(_ storage: JournalStorage, now: UInt64 = 5_000) -> (IdempotencyStore, JournalLoadReport) {
        let store = IdempotencyStore(limits: limits, shardCount: 4)
        return (store, JournalLoader.load(storage, into: store, now: now))
    }

    private func settled(_ store: IdempotencyStore, _ name: String, identity: UInt32? = 1, now: UInt64 = 5_000) -> SettledEntry? {
        if case .settled(let entry) = store.lookupOrReserve(key(name, identity: identity), now: now) { return entry }
        return nil
    }

    func testRoundTripRestoresEveryKindOfEntry() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        XCTAssertEqual(storage.syncedCount, storage.bytes.count, "fsync always")
        let (store, report) = restore(storage)
        XCTAssertEqual(report, JournalLoadReport(recordsLoaded: 4, entriesRestored: 4, bytesSkipped: 0, problems: [], compacted: true))

        let stored = try XCTUnwrap(settled(store, "stored"))
        guard case .stored(let response) = stored.outcome else { return XCTFail("not stored") }
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(text(response.reason), "Whatever")
        XCTAssertEqual(text(response.headerLines), "Location: /m/1\r\n")
        XCTAssertEqual(text(response.body), "{\"id\":1}")
        XCTAssertEqual(stored.fingerprint, fingerprint("a"))
        XCTAssertEqual(stored.deadline, 101_000)

        guard case .notReplayable = try XCTUnwrap(settled(store, "big")).outcome else { return XCTFail() }
        let unknown = try XCTUnwrap(settled(store, "timeout"))
        guard case .unknownOutcome = unknown.outcome else { return XCTFail() }
        XCTAssertNil(unknown.fingerprint)
        XCTAssertEqual(unknown.deadline, 103_000)
        XCTAssertNotNil(settled(store, "anon", identity: nil))
        XCTAssertNil(settled(store, "anon", identity: 1), "identity is part of the key")
        XCTAssertNil(settled(store, "released"), "in-flight reservations are never journalled")
    }

    func testCompactionDropsRemovedAndExpiredEntries() throws {
        let storage = InMemoryJournalStorage()
        let store = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 30_000), shardCount: 1,
                                     journal: IdempotencyJournal(storage: storage, policy: .never))
        // A budget of one entry: the second evicts the first and journals its removal.
        guard case .replayable(let sample) = response(200, "x") else { return XCTFail() }
        let budget = IdempotencyShard.nodeCost(key("evicted")) + sample.memoryCost + IdempotencyShard.nodeCost(key("kept")) + 8
        let small = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 100_000, maxMemory: budget), shardCount: 1,
                                     journal: IdempotencyJournal(storage: storage, policy: .never))
        small.complete(try reserve(small, "evicted"), fingerprint: fingerprint(""), response: response(200, "x"), now: 0)
        small.complete(try reserve(small, "kept"), fingerprint: fingerprint(""), response: response(200, "y"), now: 0)
        store.markUnknown(try reserve(store, "lock-ends"), fingerprint: nil, now: 0)
        let before = storage.bytes.count

        let (restored, report) = restore(storage, now: 40_000)
        XCTAssertEqual(report.recordsLoaded, 4, "two stored, one removal, one lock")
        XCTAssertEqual(report.entriesRestored, 1)
        XCTAssertTrue(report.compacted)
        XCTAssertLessThan(storage.bytes.count, before)
        XCTAssertNotNil(settled(restored, "kept", now: 40_000))
        XCTAssertNil(settled(restored, "evicted", now: 40_000))
        XCTAssertNil(settled(restored, "lock-ends", now: 40_000))

        let (_, again) = restore(storage, now: 40_000)
        XCTAssertEqual(again, JournalLoadReport(recordsLoaded: 1, entriesRestored: 1, bytesSkipped: 0, problems: [], compacted: true))
    }

    func testTornLastRecordIsSkippedAndReported() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        let whole = storage.bytes
        let last = try XCTUnwrap(lastRecordStart(whole))
        for cut in [last + 1, last + 20, whole.count - 1] {
            storage.bytes = Array(whole[..<cut])
            let (store, report) = restore(storage)
            XCTAssertEqual(report.recordsLoaded, 3, "cut at \(cut)")
            XCTAssertEqual(report.bytesSkipped, cut - last)
            XCTAssertEqual(report.problems, ["truncated record at offset \(last); skipped \(cut - last) bytes"])
            XCTAssertNil(settled(store, "anon", identity: nil))
            XCTAssertNotNil(settled(store, "stored"))
            let (_, clean) = restore(storage)
            XCTAssertEqual(clean.bytesSkipped, 0, "compaction removed the torn tail")
        }
    }

    func testCorruptedMiddleRecordIsSkippedAndLaterRecordsSurvive() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        var bytes = storage.bytes
        let starts = recordStarts(bytes)
        XCTAssertEqual(starts.count, 4)
        // A flipped payload byte in the second record ("big"): its checksum no longer holds.
        bytes[starts[1] + JournalFrame.headerSize + 3] ^= 0x40
        storage.bytes = bytes
        let (store, report) = restore(storage)
        XCTAssertEqual(report.recordsLoaded, 3)
        XCTAssertEqual(report.bytesSkipped, starts[2] - starts[1])
        XCTAssertEqual(report.problems, ["checksum mismatch at offset \(starts[1]); skipped \(starts[2] - starts[1]) bytes"])
        XCTAssertNil(settled(store, "big"))
        XCTAssertNotNil(settled(store, "timeout"))
        XCTAssertNotNil(settled(store, "anon", identity: nil))

        // A damaged length field: the reader resynchronises on the next record marker.
        storage.bytes = bytes
        var damaged = storage.bytes
        damaged[starts[1] + 7] = 0xFF
        storage.bytes = damaged
        let (_, lengthReport) = restore(storage)
        XCTAssertEqual(lengthReport.recordsLoaded, 3)
        XCTAssertEqual(lengthReport.problems.first?.hasPrefix("implausible record length"), true)
    }

    func testGarbageFileStillLoads() {
        let storage = InMemoryJournalStorage(bytes: Array("this is not a journal".utf8))
        let (store, report) = restore(storage)
        XCTAssertEqual(report.recordsLoaded, 0)
        XCTAssertEqual(report.bytesSkipped, 21)
        XCTAssertEqual(report.problems, ["no record marker at offset 0; skipped 21 bytes"])
        XCTAssertEqual(store.usage.entries, 0)
        XCTAssertEqual(storage.bytes, [], "compacted to an empty journal")
    }

    func testJournalFileRoundTripAndAtomicCompaction() throws {
        let directory = NSTemporaryDirectory() + "idempotency-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/idempotency.journal"
        try populate(try JournalFile(path: path))
        // A torn tail, as a crash mid-write leaves it.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(JournalFrame.marker + [9, 0]))
        handle.closeFile()

        var config = IdempotencyConfig()
        config.limits = limits
        config.journalPath = path
        let (stage, report) = try IdempotencyStage.start(config: config, now: 5_000)
        XCTAssertEqual(report?.recordsLoaded, 4)
        XCTAssertEqual(report?.bytesSkipped, 6)
        XCTAssertEqual(report?.compacted, true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".compact"))

        // Appends after compaction go to the new file.
        guard case .reserved(let r) = stage.store.lookupOrReserve(key("after"), now: 5_000) else { return XCTFail() }
        stage.complete(r, fingerprint: fingerprint(""), response: response(200), now: 5_000)
        let (_, reloaded) = try IdempotencyStage.start(config: config, now: 6_000)
        XCTAssertEqual(reloaded, JournalLoadReport(recordsLoaded: 5, entriesRestored: 5, bytesSkipped: 0, problems: [], compacted: true))
    }

    func testIntervalPolicySyncsOnlyWhenDue() {
        let storage = InMemoryJournalStorage()
        let journal = IdempotencyJournal(storage: storage, policy: .interval(ms: 1000))
        journal.append(.removed(key("a")), now: 1_000)
        XCTAssertEqual(storage.syncedCount, storage.bytes.count, "first append: the interval since start has passed")
        journal.append(.removed(key("b")), now: 1_500)
        XCTAssertLessThan(storage.syncedCount, storage.bytes.count)
        journal.flush(now: 1_600)
        XCTAssertEqual(storage.syncedCount, storage.bytes.count)
        XCTAssertEqual(journal.health.failures, 0)
    }

    private func recordStarts(_ bytes: [UInt8]) -> [Int] {
        var starts: [Int] = []
        var i = 0
        while i + JournalFrame.headerSize <= bytes.count, Array(bytes[i..<i + 4]) == JournalFrame.marker {
            starts.append(i)
            var length = 0
            for b in 0..<4 { length |= Int(bytes[i + 4 + b]) << (8 * b) }
            i += JournalFrame.headerSize + length
        }
        return starts
    }

    private func lastRecordStart(_ bytes: [UInt8]) -> Int? { recordStarts(bytes).last }
}
