import Dispatch
import Synchronization
import XCTest
@testable import GatewayCore

final class IdempotencyStoreTests: XCTestCase {
    private let ok = response(201, "{\"id\":\"m1\"}",
                              headers: "Content-Type: application/json\r\nLocation: /v1/messages/m1\r\nX-Request-Id: req-1\r\n")

    func testExactlyOneOfManyRacingRequestsProceeds() {
        let stage = idempotencyStage(shards: 64)
        for round in 0..<20 {
            let proceeded = RaceCounter(), inFlight = RaceCounter()
            DispatchQueue.concurrentPerform(iterations: 32) { _ in
                let decision = begin(stage, post("race-\(round)"))
                if decision.reservation != nil { proceeded.increment() }
                if reason(decision.rejection) == "in_progress" { inFlight.increment() }
            }
            XCTAssertEqual(proceeded.value, 1, "round \(round)")
            XCTAssertEqual(inFlight.value, 31, "round \(round)")
        }
    }

    func testReplaySameRequest() throws {
        let stage = idempotencyStage()
        let reservation = try XCTUnwrap(begin(stage, post("k1")).reservation)
        stage.complete(reservation, fingerprint: fingerprint("body"), response: ok, now: 1_500)

        let entry = try XCTUnwrap(begin(stage, post("k1"), now: 2_000).settled)
        let replayed = try XCTUnwrap(stage.resolve(entry, fingerprint: fingerprint("body"), now: 2_000).replayed)
        XCTAssertEqual(replayed.status, 201)
        XCTAssertEqual(text(replayed.body), "{\"id\":\"m1\"}")

        let out = ByteBuffer(capacity: 64)
        let extra = bytes("Date: Mon, 30 Nov 2026 10:00:00 GMT\r\nX-RateLimit-Remaining: 9\r\n")
        extra.withUnsafeBytes { IdempotencyReplay.write(replayed, connection: .keepAlive, extraHeaders: $0, into: out) }
        XCTAssertEqual(text(out), "HTTP/1.1 201 Whatever\r\nContent-Type: application/json\r\nLocation: /v1/messages/m1\r\n"
                       + "X-Request-Id: req-1\r\nIdempotent-Replayed: true\r\nDate: Mon, 30 Nov 2026 10:00:00 GMT\r\n"
                       + "X-RateLimit-Remaining: 9\r\nConnection: keep-alive\r\nContent-Length: 11\r\n\r\n{\"id\":\"m1\"}")
    }

    /// The namespace is the key's digest (16 bytes of it), never its index; anonymous callers are
    /// told apart by address.
    func testCacheKeyIdentities() {
        let digest = KeyHash.sha256("alice")
        let byKey = digest.withUnsafeBytes { IdempotencyCacheKey(caller: .apiKey(digest: $0), routePrefix: "/v1/", key: bytes("k")) }
        XCTAssertEqual(Array(byKey.bytes[0..<18]), [1, 16] + digest.prefix(16))
        XCTAssertEqual(Array(byKey.bytes[18...]), [0, 4] + bytes("/v1/k"))
        let address = { (text: String) in
            Array(text.utf8).withUnsafeBytes { IdempotencyCacheKey(caller: .clientAddress($0), routePrefix: "/v1/", key: bytes("k")) }
        }
        XCTAssertEqual(Array(address("10.0.0.1").bytes[0..<10]), [2, 8] + bytes("10.0.0.1"))
        XCTAssertNotEqual(address("10.0.0.1"), address("10.0.0.2"))
        XCTAssertNotEqual(address("10.0.0.1"), byKey)

        var keys = KeyDirectory()
        XCTAssertTrue(keys.insert(digest: KeyHash.sha256("bob"), KeyEntry(policy: 0)))
        XCTAssertTrue(keys.insert(digest: digest, KeyEntry(policy: 0)))
        XCTAssertEqual(keys.withDigest(of: 1) { Array($0) }, digest)
        XCTAssertEqual(keys.withDigest(of: 0) { Array($0) }, KeyHash.sha256("bob"))
    }

    func testKeysAreScopedByIdentityAndRoute() {
        let stage = idempotencyStage()
        XCTAssertNotNil(begin(stage, post("k"), identity: 1).reservation)
        XCTAssertNotNil(begin(stage, post("k"), identity: 2).reservation)
        XCTAssertNotNil(begin(stage, post("k"), identity: nil).reservation)
        XCTAssertNotNil(begin(stage, post("k"), route: idempotencyRoute("/v2/"), identity: 1).reservation)
        XCTAssertEqual(reason(begin(stage, post("k"), identity: 1).rejection), "in_progress")
    }

    func testDifferentRequestWithSameKeyConflicts() throws {
        for status in [409, 422] {
            let stage = idempotencyStage(conflictStatus: status)
            let reservation = try XCTUnwrap(begin(stage, post("k1")).reservation)
            stage.complete(reservation, fingerprint: fingerprint("body"), response: ok, now: 1_000)
            let entry = try XCTUnwrap(begin(stage, post("k1")).settled)
            let error = try XCTUnwrap(stage.resolve(entry, fingerprint: fingerprint("other body"), now: 1_000).rejection)
            XCTAssertEqual(error.kind, .idempotencyConflict)
            XCTAssertEqual(error.message, "Idempotency-Key reused with a different request")
            XCTAssertEqual(ErrorEnvelope.render(error, vocabulary: .snake, requestID: "r").status, status)
        }
    }

    func testSecondRequestWhileFirstInFlightGets409WithRetryAfter() throws {
        let stage = idempotencyStage()
        XCTAssertNotNil(begin(stage, post("k1")).reservation)
        let error = try XCTUnwrap(begin(stage, post("k1")).rejection)
        XCTAssertEqual(error.kind.status, 409)
        XCTAssertEqual(error.retryAfterSeconds, 1)
        XCTAssertEqual(reason(error), "in_progress")
    }

    func testFailuresReleaseTheKey() throws {
        let stage = idempotencyStage()
        for status in [500, 502, 503, 504, 429, 408, 302] {
            let reservation = try XCTUnwrap(begin(stage, post("k-\(status)")).reservation)
            stage.complete(reservation, fingerprint: fingerprint(""), response: response(status), now: 1_000)
            XCTAssertNotNil(begin(stage, post("k-\(status)")).reservation, "status \(status) must not be stored")
        }
        for status in [200, 201, 204, 400, 404, 409, 422] {
            let reservation = try XCTUnwrap(begin(stage, post("s-\(status)")).reservation)
            stage.complete(reservation, fingerprint: fingerprint(""), response: response(status), now: 1_000)
            XCTAssertNotNil(begin(stage, post("s-\(status)")).settled, "status \(status) must be stored")
        }
        let reservation = try XCTUnwrap(begin(stage, post("gateway-rejected")).reservation)
        stage.release(reservation)
        XCTAssertNotNil(begin(stage, post("gateway-rejected")).reservation)
    }

    func testStaleReservationCannotSettleANewerOne() throws {
        let stage = idempotencyStage()
        let first = try XCTUnwrap(begin(stage, post("k1")).reservation)
        stage.release(first)
        let second = try XCTUnwrap(begin(stage, post("k1")).reservation)
        stage.complete(first, fingerprint: fingerprint(""), response: ok, now: 1_000)
        stage.release(first)
        XCTAssertEqual(reason(begin(stage, post("k1")).rejection), "in_progress", "the second reservation still holds the key")
        stage.complete(second, fingerprint: fingerprint(""), response: ok, now: 1_000)
        XCTAssertNotNil(begin(stage, post("k1")).settled)
    }

    /// The safe rule: an unknown outcome answers 409 for the entry's whole TTL, with no
    /// Retry-After inviting a resend, and the key executes again only once it has expired.
    func testUnknownOutcomeLocksTheKeyForTheWholeTTL() throws {
        let stage = idempotencyStage(limits: IdempotencyLimits(ttlMs: 86_400_000))
        let reservation = try XCTUnwrap(begin(stage, post("k1"), now: 10_000).reservation)
        stage.markUnknown(reservation, fingerprint: fingerprint("body"), now: 10_000)

        for now: UInt64 in [10_001, 70_000, 3_600_000, 86_409_999] {
            let entry = try XCTUnwrap(begin(stage, post("k1"), now: now).settled, "still locked at \(now)")
            XCTAssertEqual(entry.deadline, 86_410_000)
            let error = try XCTUnwrap(stage.resolve(entry, fingerprint: fingerprint("body"), now: now).rejection)
            XCTAssertEqual(error.kind.status, 409)
            XCTAssertEqual(reason(error), "outcome_unknown")
            XCTAssertNil(error.retryAfterSeconds, "waiting never makes a resend safe")
            XCTAssertTrue(error.message.contains("may have been executed"))
            XCTAssertTrue(error.message.contains("new Idempotency-Key"))
        }
        let entry = try XCTUnwrap(begin(stage, post("k1"), now: 20_000).settled)
        XCTAssertEqual(reason(stage.resolve(entry, fingerprint: fingerprint("other"), now: 20_000).rejection), "request_mismatch")
        XCTAssertNotNil(begin(stage, post("k1"), now: 86_410_000).reservation, "expired with its TTL")
    }

    func testEntriesExpireAfterTheTTL() throws {
        let stage = idempotencyStage(limits: IdempotencyLimits(ttlMs: 10_000))
        let reservation = try XCTUnwrap(begin(stage, post("k1")).reservation)
        stage.complete(reservation, fingerprint: fingerprint(""), response: ok, now: 1_000)
        XCTAssertNotNil(begin(stage, post("k1"), now: 10_999).settled)
        XCTAssertNotNil(begin(stage, post("k1"), now: 11_000).reservation)
        XCTAssertEqual(stage.store.usage.entries, 1, "only the new reservation")
    }

    func testOversizedResponseIsCompletedButNotReplayable() throws {
        let stage = idempotencyStage(limits: IdempotencyLimits(maxResponseSize: 1024))
        let recorder = stage.makeRecorder(requestID: bytes("r"))
        recorder.recordRewritten(RenderedError(status: 400, retryAfterSeconds: nil, body: bytes("{}")))
        let big = [UInt8](repeating: 0x61, count: 1000)
        big.withUnsafeBytes { recorder.append($0.baseAddress, count: $0.count) }
        XCTAssertFalse(recorder.isReplayable)
        let reservation = try XCTUnwrap(begin(stage, post("k1")).reservation)
        stage.complete(reservation, fingerprint: fingerprint(""), response: recorder.finish(), now: 1_000)
        let entry = try XCTUnwrap(begin(stage, post("k1")).settled)
        let error = stage.resolve(entry, fingerprint: fingerprint(""), now: 1_000).rejection
        XCTAssertEqual(error?.kind.status, 409)
        XCTAssertEqual(reason(error), "not_replayable")
        XCTAssertTrue(error?.message.contains("too large") ?? false)
    }

    /// Costs are exact sums of what each entry pins, and go back to zero when entries leave.
    func testMemoryAccounting() throws {
        let store = IdempotencyStore(limits: IdempotencyLimits(), shardCount: 8)
        let key = IdempotencyCacheKey(identity: 3, routePrefix: "/v1/", key: bytes("k1"))
        XCTAssertEqual(key.bytes.count, 1 + 1 + 16 + 2 + 4 + 2)
        guard case .reserved(let reservation) = store.lookupOrReserve(key, now: 0) else { return XCTFail("not reserved") }
        let nodeCost = IdempotencyShard.nodeCost(key)
        XCTAssertEqual(store.usage.bytes, nodeCost)
        XCTAssertGreaterThan(nodeCost, MemoryLayout<IdempotencyCacheKey>.stride + key.bytes.count)

        guard case .replayable(let stored) = ok else { return XCTFail() }
        store.complete(reservation, fingerprint: fingerprint(""), response: ok, now: 0)
        let expected = nodeCost + 16 + 8 + 24 + 3 * 32 + stored.reason.capacity + stored.headerLines.capacity + stored.body.capacity
        XCTAssertEqual(stored.memoryCost, expected - nodeCost)
        XCTAssertEqual(store.usage.bytes, expected)
        XCTAssertEqual(store.usage.entries, 1)

        guard case .reserved(let second) = store.lookupOrReserve(key, now: IdempotencyLimits().ttlMs) else { return XCTFail() }
        XCTAssertEqual(store.usage.bytes, nodeCost, "the expired entry's bytes are returned")
        store.release(second)
        XCTAssertEqual(store.usage.bytes, 0)
        XCTAssertEqual(store.usage.entries, 0)
    }

    /// Expired entries go before live ones, then the least recently used; in-flight reservations
    /// and unknown-outcome locks are never evicted.
    func testEvictionOrder() throws {
        let body = String(repeating: "b", count: 2000)
        let key = { (name: String) in IdempotencyCacheKey(identity: 7, routePrefix: "/v1/", key: bytes(name)) }
        guard case .replayable(let sample) = response(200, body) else { return XCTFail() }
        let entry = IdempotencyShard.nodeCost(key("e1")) + sample.memoryCost
        let pinned = IdempotencyShard.nodeCost(key("in-flight")) + IdempotencyShard.nodeCost(key("locked"))
        // One shard with room for the two pinned entries, three completed ones and a few reservations, not four.
        // Half an entry of slack either way: an entry's cost counts its arrays' capacities, which malloc may
        // round up differently from one allocation to the next, so `entry` is only about what each one costs.
        let limits = IdempotencyLimits(ttlMs: 100_000, maxMemory: pinned + 3 * entry + entry / 2)
        let stage = idempotencyStage(limits: limits, shards: 1)
        func settle(_ name: String, at now: UInt64) throws {
            let reservation = try XCTUnwrap(begin(stage, post(name), now: now).reservation)
            stage.complete(reservation, fingerprint: fingerprint(""), response: response(200, body), now: now)
        }
        XCTAssertNotNil(begin(stage, post("in-flight"), now: 0).reservation)
        let locked = try XCTUnwrap(begin(stage, post("locked"), now: 0).reservation)
        stage.markUnknown(locked, fingerprint: nil, now: 0)
        try settle("e1", at: 0)
        try settle("e2", at: 50_000)
        try settle("e3", at: 60_000)
        XCTAssertNotNil(begin(stage, post("e1"), now: 99_000).settled, "e1 touched: most recently used")

        try settle("e4", at: 99_500)
        XCTAssertNotNil(begin(stage, post("e2"), now: 99_600).reservation, "e2, least recently used, was evicted")
        XCTAssertEqual(stage.store.gauges.evictions, 1)
        XCTAssertNotNil(begin(stage, post("e1"), now: 99_600).settled)
        XCTAssertNotNil(begin(stage, post("e3"), now: 99_600).settled)
        XCTAssertNotNil(begin(stage, post("locked"), now: 99_600).settled, "an unknown outcome is never evicted")

        // e1 expires at 100_000: it makes room, so e4 (least recently used now) survives.
        try settle("e5", at: 100_000)
        XCTAssertNotNil(begin(stage, post("e4"), now: 100_000).settled, "LRU alone would have evicted e4")
        XCTAssertNotNil(begin(stage, post("e1"), now: 100_000).reservation, "expired e1 went first")

        XCTAssertEqual(reason(begin(stage, post("in-flight"), now: 100_000).rejection), "in_progress")
        XCTAssertLessThanOrEqual(stage.store.usage.bytes, limits.maxMemory)
        let gauges = stage.store.gauges
        XCTAssertEqual(gauges.evictions, 1, "expiry is not eviction")
        XCTAssertEqual(gauges.memoryLimitBytes, limits.maxMemory)
        XCTAssertGreaterThan(gauges.entries, 0)
        XCTAssertNil(gauges.journal)
    }

    /// Reservations are admitted even past the budget: nothing may be evicted to make room, and
    /// refusing them would fail requests that do not need any stored bytes.
    func testInFlightReservationsSurviveAnyPressure() {
        let limits = IdempotencyLimits(maxMemory: 1000)
        let stage = idempotencyStage(limits: limits, shards: 1)
        for i in 0..<20 { XCTAssertNotNil(begin(stage, post("k\(i)")).reservation) }
        XCTAssertGreaterThan(stage.store.usage.bytes, limits.maxMemory)
        for i in 0..<20 { XCTAssertEqual(reason(begin(stage, post("k\(i)")).rejection), "in_progress") }
    }
}

/// A thread-safe counter for the race test.
final class RaceCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
