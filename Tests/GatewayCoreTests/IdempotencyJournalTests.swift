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
            throw NotReserved(name: name)
        }
        return r
    }

    /// A store journaling to `storage`, opened (and compacted) as at start-up.
    private func open(_ storage: JournalStorage, limits: IdempotencyLimits? = nil, shards: Int = 1,
                      policy: JournalSyncPolicy = .always, now: UInt64 = 0) throws -> (IdempotencyStore, JournalLoadReport) {
        let store = IdempotencyStore(limits: limits ?? self.limits, shardCount: shards,
                                     journal: IdempotencyJournal(storage: storage, policy: policy))
        return (store, try JournalLoader.load(into: store, now: now))
    }

    /// A journal of ten records: a stored response, a completed-unreplayable key, an unknown
    /// outcome, an anonymous entry, a released reservation (each a reservation, then its outcome).
    private func populate(_ storage: JournalStorage) throws {
        let (store, _) = try open(storage)
        store.complete(try reserve(store, "stored"), fingerprint: fingerprint("a"),
                       response: response(201, "{\"id\":1}", headers: "Location: /m/1\r\n"), now: 1_000)
        store.complete(try reserve(store, "big"), fingerprint: fingerprint("b"), response: .notReplayable(status: 200), now: 2_000)
        store.markUnknown(try reserve(store, "timeout"), fingerprint: nil, now: 3_000)
        store.complete(try reserve(store, "anon", identity: nil), fingerprint: fingerprint("c"), response: response(400), now: 4_000)
        store.release(try reserve(store, "released"))
    }

    private func restore(_ storage: JournalStorage, now: UInt64 = 5_000) throws -> (IdempotencyStore, JournalLoadReport) {
        try open(storage, shards: 4, policy: .never, now: now)
    }

    /// Looks without reserving: a reservation would be journaled.
    private func settled(_ store: IdempotencyStore, _ name: String, identity: UInt32? = 1, now: UInt64 = 5_000) -> SettledEntry? {
        store.peek(key(name, identity: identity), now: now)
    }

    func testRoundTripRestoresEveryKindOfEntry() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        XCTAssertEqual(storage.syncedCount, storage.bytes.count, "fsync always")
        let (store, report) = try restore(storage)
        XCTAssertEqual(report, JournalLoadReport(recordsLoaded: 10, entriesRestored: 4, bytesSkipped: 0, problems: [], compacted: true))

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
        XCTAssertNil(settled(store, "released"), "a released reservation is gone")
    }

    func testCompactionDropsRemovedAndExpiredEntries() throws {
        let storage = InMemoryJournalStorage()
        // A budget of one entry: the second evicts the first and journals its removal.
        guard case .replayable(let sample) = response(200, "x") else { return XCTFail() }
        let budget = IdempotencyShard.nodeCost(key("evicted")) + sample.memoryCost + IdempotencyShard.nodeCost(key("kept")) + 8
        let (small, _) = try open(storage, limits: IdempotencyLimits(ttlMs: 100_000, maxMemory: budget), policy: .never)
        small.complete(try reserve(small, "evicted"), fingerprint: fingerprint(""), response: response(200, "x"), now: 0)
        small.complete(try reserve(small, "kept"), fingerprint: fingerprint(""), response: response(200, "y"), now: 0)
        let shortLived = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 30_000), shardCount: 1, journal: small.journal)
        shortLived.markUnknown(try reserve(shortLived, "lock-ends"), fingerprint: nil, now: 0)
        let before = storage.bytes.count

        let (restored, report) = try restore(storage, now: 40_000)
        XCTAssertEqual(report.recordsLoaded, 7, "two reservations and their responses, one removal, one lock and its reservation")
        XCTAssertEqual(report.entriesRestored, 1)
        XCTAssertTrue(report.compacted)
        XCTAssertLessThan(storage.bytes.count, before)
        XCTAssertNotNil(settled(restored, "kept", now: 40_000))
        XCTAssertNil(settled(restored, "evicted", now: 40_000))
        XCTAssertNil(settled(restored, "lock-ends", now: 40_000))

        let (_, again) = try restore(storage, now: 40_000)
        XCTAssertEqual(again, JournalLoadReport(recordsLoaded: 1, entriesRestored: 1, bytesSkipped: 0, problems: [], compacted: true))
    }

    /// The last record released a reservation; torn, it cannot say so, and the key is "outcome
    /// unknown": a lost record may lock a key, never free one.
    func testTornLastRecordIsSkippedAndReported() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        let whole = storage.bytes
        let last = try XCTUnwrap(recordStarts(whole).last)
        for cut in [last + 1, last + 20, whole.count - 1] {
            storage.bytes = Array(whole[..<cut])
            let (store, report) = try restore(storage)
            XCTAssertEqual(report.recordsLoaded, 9, "cut at \(cut)")
            XCTAssertEqual(report.bytesSkipped, cut - last)
            XCTAssertEqual(report.problems, ["truncated record at offset \(last); skipped \(cut - last) bytes"])
            XCTAssertTrue(try XCTUnwrap(settled(store, "released")).isUnknownOutcome)
            XCTAssertNotNil(settled(store, "stored"))
            let (_, clean) = try restore(storage)
            XCTAssertEqual(clean.bytesSkipped, 0, "compaction removed the torn tail")
        }
    }

    /// A reservation whose outcome record is lost (damaged here, or never written because the
    /// gateway crashed mid-request) comes back as "outcome unknown": the retry gets 409 until
    /// the key expires, never a second execution.
    func testInFlightReservationComesBackAsOutcomeUnknown() throws {
        let storage = InMemoryJournalStorage()
        let (store, _) = try open(storage)
        _ = try reserve(store, "in-flight", now: 2_000)  // the gateway dies before it settles
        let (restored, report) = try restore(storage, now: 5_000)
        XCTAssertEqual(report.recordsLoaded, 1)
        let entry = try XCTUnwrap(settled(restored, "in-flight"))
        XCTAssertTrue(entry.isUnknownOutcome)
        XCTAssertNil(entry.fingerprint)
        XCTAssertEqual(entry.deadline, 102_000, "the reservation's time plus ttl")
        let stage = IdempotencyStage(config: IdempotencyConfig(), store: restored)
        XCTAssertEqual(reason(stage.resolve(entry, fingerprint: fingerprint("any"), now: 5_000).rejection), "outcome_unknown")
        XCTAssertNotNil(restored.lookupOrReserve(key("in-flight"), now: 102_000).reservationForTest, "free once it expires")

        // Compaction keeps a reservation still in flight.
        let (live, _) = try open(InMemoryJournalStorage())
        _ = try reserve(live, "pending", now: 2_000)
        try JournalCompactor.compact(live, now: 3_000)
        let (reloaded, _) = try restore(try XCTUnwrap(live.journal?.storage), now: 4_000)
        XCTAssertTrue(try XCTUnwrap(settled(reloaded, "pending")).isUnknownOutcome)
    }

    func testCorruptedMiddleRecordIsSkippedAndLaterRecordsSurvive() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        var bytes = storage.bytes
        let starts = recordStarts(bytes)
        XCTAssertEqual(starts.count, 10)
        // A flipped payload byte in "big"'s response (record 3): its check no longer holds, so
        // only its reservation is known.
        bytes[starts[3] + JournalFrame.headerSize + 3] ^= 0x40
        storage.bytes = bytes
        let (store, report) = try restore(storage)
        XCTAssertEqual(report.recordsLoaded, 9)
        XCTAssertEqual(report.bytesSkipped, starts[4] - starts[3])
        XCTAssertEqual(report.problems, ["checksum mismatch at offset \(starts[3]); skipped \(starts[4] - starts[3]) bytes"])
        XCTAssertTrue(try XCTUnwrap(settled(store, "big")).isUnknownOutcome)
        XCTAssertNotNil(settled(store, "timeout"))
        XCTAssertNotNil(settled(store, "anon", identity: nil))

        // A damaged length field: the reader resynchronises on the next record.
        bytes[starts[3] + JournalFrame.headerSize + 3] ^= 0x40
        bytes[starts[3] + JournalFrame.markerSize + 3] = 0xFF
        storage.bytes = bytes
        let (_, lengthReport) = try restore(storage)
        XCTAssertEqual(lengthReport.recordsLoaded, 9)
        XCTAssertEqual(lengthReport.problems.first?.hasPrefix("implausible record length"), true)
    }

    /// Resynchronisation is unambiguous: a stored body holding complete, valid frames (a copy of
    /// a real one, and one sealed for this file at the offset its record starts at) is never
    /// restored as records when the record holding it is damaged just before them.
    func testFramesInsideAStoredBodyAreNeverRestored() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        let (store, _) = try open(storage, now: 5_000)
        let marker = try XCTUnwrap(JournalFrame.marker(fromFileHeader: storage.bytes[...]))
        let copied = Array(storage.bytes[recordStarts(storage.bytes)[0]..<recordStarts(storage.bytes)[1]])
        var planted = PreparedFrame(.settled(key("planted"), SettledEntry(outcome: .stored(StoredResponse(
            status: 200, reason: bytes("OK"), headerLines: [], body: bytes("forged"))), fingerprint: nil, deadline: 900_000)))
        planted.seal(marker: marker, offset: Int64(storage.bytes.count))
        let body = bytes("{\"data\":\"") + copied + planted.bytes + bytes("\"}")
        let carried = RecordedResponse.replayable(StoredResponse(status: 200, reason: bytes("OK"), headerLines: [], body: body))

        for name in ["stored", "big", "timeout"] {  // the copied frame would bring one of them back
            store.journal?.append(.removed(key(name)))
        }
        store.complete(try reserve(store, "carrier"), fingerprint: fingerprint(""), response: carried, now: 5_000)
        store.complete(try reserve(store, "after"), fingerprint: fingerprint(""), response: response(201), now: 5_000)

        var damaged = storage.bytes
        let starts = recordStarts(damaged)
        let carrier = try XCTUnwrap(starts.first {  // its response, not its reservation
            damaged[$0 + JournalFrame.headerSize] == 1
                && String(decoding: damaged[($0 + JournalFrame.headerSize)...].prefix(50), as: UTF8.self).contains("carrier")
        })
        damaged[carrier + JournalFrame.markerSize + 4] ^= 0x01  // its check: the frame is damaged just before the body
        storage.bytes = damaged

        let (restored, report) = try restore(storage, now: 6_000)
        XCTAssertNil(settled(restored, "planted", now: 6_000), "a frame inside a body is not a record")
        for name in ["stored", "big", "timeout"] {
            XCTAssertNil(settled(restored, name, now: 6_000), "nor is a copy of an earlier record")
        }
        XCTAssertTrue(try XCTUnwrap(settled(restored, "carrier", now: 6_000)).isUnknownOutcome, "only its reservation is known")
        XCTAssertNotNil(settled(restored, "after", now: 6_000), "the reader found the next real record")
        XCTAssertEqual(report.problems.count, 1, "\(report.problems)")
        XCTAssertTrue(report.problems[0].hasPrefix("checksum mismatch at offset \(carrier)"), report.problems[0])
    }

    /// Format 1 identified keys by their position in the key list: never restored, reported, replaced.
    func testFormat1JournalIsReportedAndNotRestored() throws {
        let payload = bytes("\u{1}\u{5}\u{0}hello")
        var old = bytes("GWI1") + [UInt8(payload.count), 0, 0, 0]
        old += JournalFrame.digest(payload[...]) + payload
        let storage = InMemoryJournalStorage(bytes: old)
        let (store, report) = try restore(storage)
        XCTAssertEqual(report.recordsLoaded, 0)
        XCTAssertEqual(report.bytesSkipped, old.count)
        XCTAssertEqual(report.problems.count, 1)
        XCTAssertTrue(report.problems[0].contains("format 1"), report.problems[0])
        XCTAssertTrue(report.compacted)
        XCTAssertEqual(store.usage.entries, 0)
        XCTAssertNotNil(JournalFrame.marker(fromFileHeader: storage.bytes[...]), "replaced by a format-2 journal")
    }

    func testGarbageFileStillLoads() throws {
        let storage = InMemoryJournalStorage(bytes: Array("this is not a journal".utf8))
        let (store, report) = try restore(storage)
        XCTAssertEqual(report.recordsLoaded, 0)
        XCTAssertEqual(report.bytesSkipped, 21)
        XCTAssertEqual(report.problems, ["not an idempotency journal, or its header is damaged: 21 bytes skipped and replaced"])
        XCTAssertEqual(store.usage.entries, 0)
        XCTAssertEqual(storage.bytes.count, JournalFrame.fileHeaderSize, "compacted to an empty journal")
    }

    func testDamagedFileHeaderRecoversTheMarkerFromTheFirstRecord() throws {
        let storage = InMemoryJournalStorage()
        try populate(storage)
        var bytes = storage.bytes
        bytes[1] ^= 0xFF
        storage.bytes = bytes
        let (_, report) = try restore(storage)
        XCTAssertEqual(report.recordsLoaded, 10)
        XCTAssertEqual(report.problems, ["file header damaged; its marker was recovered from the first record"])
    }

    /// Loading keeps the latest state of each key within `max_memory` as it reads, never every
    /// record first: 24 MB of stored bodies load into a 2 MiB budget while the heap grows by a few MiB.
    func testLoadingStaysWithinTheMemoryBudget() throws {
        let storage = InMemoryJournalStorage()
        do {
            let (writer, _) = try open(storage, policy: .never)
            let body = [UInt8](repeating: 0x61, count: 100_000)
            for i in 0..<240 {
                let entry = SettledEntry(outcome: .stored(StoredResponse(status: 200, reason: [], headerLines: [], body: body)),
                                         fingerprint: nil, deadline: 1_000_000)
                writer.journal?.append(.settled(key("k\(i)"), entry))
            }
        }
        XCTAssertGreaterThan(storage.bytes.count, 24_000_000)
        let sampling = SamplingStorage(storage)
        let budget = 2 << 20
        let store = IdempotencyStore(limits: IdempotencyLimits(ttlMs: 100_000, maxMemory: budget), shardCount: 1,
                                     journal: IdempotencyJournal(storage: sampling, policy: .never))
        let before = heapBytes()
        let report = try JournalLoader.load(into: store, now: 5_000)
        XCTAssertEqual(report.recordsLoaded, 240)
        XCTAssertEqual(report.entriesRestored, budget / 100_200, "the most recently written that fit")
        XCTAssertNotNil(settled(store, "k239"))
        XCTAssertNil(settled(store, "k0"))
        XCTAssertLessThan(sampling.peak - before, 10 << 20, "memory growth while loading")
    }

    /// ENOSPC: counted with the error, and the next record is written over the partial one.
    func testFailedWritesAreCountedAndLeaveNoGarbage() throws {
        let storage = InMemoryJournalStorage()
        let (store, _) = try open(storage)
        let journal = try XCTUnwrap(store.journal)
        storage.capacity = storage.bytes.count + 10
        store.complete(try reserve(store, "lost"), fingerprint: fingerprint(""), response: response(201), now: 1_000)
        XCTAssertEqual(journal.stats.writeErrors, 2, "its reservation and its response")
        XCTAssertEqual(journal.stats.lastError?.code, 28)
        storage.capacity = .max
        store.complete(try reserve(store, "kept"), fingerprint: fingerprint(""), response: response(201), now: 1_000)
        XCTAssertEqual(journal.stats.writeErrors, 2)
        XCTAssertEqual(journal.stats.fileBytes, Int64(storage.bytes.count))
        // The metrics read the same counters without the journal's lock.
        XCTAssertEqual(store.gauges.journal?.writeErrors, 2)
        XCTAssertEqual(store.gauges.journal?.fileBytes, Int64(storage.bytes.count))
        XCTAssertEqual(store.gauges.journal?.liveBytes, store.journalStats?.liveBytes)
        let (restored, report) = try restore(storage)
        XCTAssertEqual(report.bytesSkipped, 0)
        XCTAssertNotNil(settled(restored, "kept"))
        XCTAssertNil(settled(restored, "lost"))
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
        handle.write(Data(try XCTUnwrap(JournalFrame.marker(fromFileHeader: Array(try Data(contentsOf: URL(fileURLWithPath: path)))[...])) + [9, 0]))
        handle.closeFile()

        var config = IdempotencyConfig()
        config.limits = limits
        config.journalPath = path
        let (stage, report) = try IdempotencyStage.start(config: config, now: 5_000)
        XCTAssertEqual(report?.recordsLoaded, 10)
        XCTAssertEqual(report?.bytesSkipped, JournalFrame.markerSize + 2)
        XCTAssertEqual(report?.compacted, true)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".compact"))

        // Appends after compaction go to the new file.
        guard case .reserved(let r) = stage.store.lookupOrReserve(key("after"), now: 5_000) else { return XCTFail() }
        stage.complete(r, fingerprint: fingerprint(""), response: response(200), now: 5_000)
        let (_, reloaded) = try IdempotencyStage.start(config: config, now: 6_000)
        XCTAssertEqual(reloaded, JournalLoadReport(recordsLoaded: 6, entriesRestored: 5, bytesSkipped: 0, problems: [], compacted: true),
                       "the four restored, and the new key's reservation and response")
    }

    func testSyncPolicies() throws {
        let storage = InMemoryJournalStorage()
        let (store, _) = try open(storage, policy: .interval(ms: 1000))
        let journal = try XCTUnwrap(store.journal)
        _ = try reserve(store, "a", now: 1_000)
        XCTAssertLessThan(storage.syncedCount, storage.bytes.count, "interval: never on the request's path")
        journal.flush()
        XCTAssertEqual(storage.syncedCount, storage.bytes.count, "the timer's flush")

        let always = InMemoryJournalStorage()
        let (strict, _) = try open(always, policy: .always)
        _ = try reserve(strict, "b", now: 1_000)
        XCTAssertEqual(always.syncedCount, always.bytes.count, "always: the reservation is durable before the request goes on")
        XCTAssertEqual(journal.stats.errors, 0)
    }

    /// Frame starts, walking the lengths from the file header on.
    private func recordStarts(_ bytes: [UInt8]) -> [Int] {
        var starts: [Int] = []
        var i = JournalFrame.fileHeaderSize
        while i + JournalFrame.headerSize <= bytes.count {
            starts.append(i)
            var length = 0
            for b in 0..<4 { length |= Int(bytes[i + JournalFrame.markerSize + b]) << (8 * b) }
            i += JournalFrame.headerSize + length
        }
        return starts
    }
}

private struct NotReserved: Error { let name: String }

/// Forwards to a storage and samples resident memory at every read, i.e. while the loader works.
private final class SamplingStorage: JournalStorage, @unchecked Sendable {
    let inner: JournalStorage
    private(set) var peak = 0

    init(_ inner: JournalStorage) { self.inner = inner }

    func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int {
        peak = max(peak, heapBytes())
        return try inner.read(at: offset, maxBytes: maxBytes, into: &buffer)
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) { try inner.write(bytes, at: offset) }
    func sync() throws(JournalIOError) { try inner.sync() }
    func size() throws(JournalIOError) -> Int64 { try inner.size() }
    func beginReplacement() throws(JournalIOError) -> any JournalReplacement { try inner.beginReplacement() }
}

/// Resident memory of this process (/proc/self/statm): freed heap is reused and large blocks
/// are unmapped, so what the loader holds shows as growth.
private func heapBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
