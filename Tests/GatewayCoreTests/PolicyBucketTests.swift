import Foundation
import XCTest
@testable import GatewayCore

final class PolicyBucketTests: XCTestCase {
    private let perMinute = TokenRate(count: 100, periodMs: 60_000, burst: 20)  // one token per 600 ms

    private func table() -> BucketTable<UInt32> { BucketTable(shardHash: Sharded<Int>.hash) }

    func testBurstThenRefillAndRetryAfterIsRoundedUp() {
        let buckets = table()
        for i in 0..<20 {
            let verdict = buckets.take(1, (0, perMinute), nil, nowMs: 1_000)
            XCTAssertTrue(verdict.admitted)
            XCTAssertEqual(verdict.first?.remaining, Int64(19 - i))
        }
        let refused = buckets.take(1, (0, perMinute), nil, nowMs: 1_000)
        XCTAssertEqual(refused.waitMs, 600)
        XCTAssertEqual(refused.first, BucketStatus(remaining: 0, msUntilNextToken: 600), "t is when the next request is admitted")
        XCTAssertEqual(PolicyErrors.rateLimited(perMinute, waitMs: refused.waitMs).retryAfterSeconds, 1)
        XCTAssertEqual(buckets.take(1, (0, perMinute), nil, nowMs: 1_599).waitMs, 1)
        XCTAssertTrue(buckets.take(1, (0, perMinute), nil, nowMs: 1_600).admitted)
        XCTAssertFalse(buckets.take(1, (0, perMinute), nil, nowMs: 1_600).admitted)
    }

    func testNextTokenIsWhenTheBucketHoldsOneMore() {
        let buckets = table()
        for _ in 0..<5 { _ = buckets.take(3, (0, perMinute), nil, nowMs: 1_000) }
        let partial = buckets.take(3, (0, perMinute), nil, nowMs: 1_300)
        // 6 taken, 300 ms (half a token) refilled: 14.5 tokens, the 15th arrives in 300 ms.
        XCTAssertEqual(partial.first, BucketStatus(remaining: 14, msUntilNextToken: 300))
        XCTAssertEqual(buckets.take(4, (0, perMinute), nil, nowMs: 0).first, BucketStatus(remaining: 19, msUntilNextToken: 600))
    }

    func testFractionalRatesAreExact() {
        let rate = TokenRate(count: 7, periodMs: 1000, burst: 1)
        let buckets = table()
        var admitted = 0
        for ms in stride(from: UInt64(10_000), to: 20_000, by: 1) where buckets.take(9, (0, rate), nil, nowMs: ms).admitted {
            admitted += 1
        }
        XCTAssertEqual(admitted, 70)
    }

    func testRetryAfterSecondsRoundUp() {
        let slow = TokenRate(count: 1, periodMs: 3_600_000, burst: 1)
        let buckets = table()
        XCTAssertTrue(buckets.take(2, (0, slow), nil, nowMs: 0).admitted)
        let refused = buckets.take(2, (0, slow), nil, nowMs: 1)
        XCTAssertEqual(refused.waitMs, 3_599_999)
        XCTAssertEqual(PolicyErrors.rateLimited(slow, waitMs: refused.waitMs).retryAfterSeconds, 3600)
    }

    func testStackedBucketsTakeNothingWhenOneIsEmpty() {
        let key = TokenRate(count: 10, periodMs: 1000, burst: 10)
        let route = TokenRate(count: 1, periodMs: 1000, burst: 2)
        let buckets = table()
        XCTAssertTrue(buckets.take(3, (0, key), (1, route), nowMs: 0).admitted)
        XCTAssertTrue(buckets.take(3, (0, key), (1, route), nowMs: 0).admitted)
        for _ in 0..<5 {
            let refused = buckets.take(3, (0, key), (1, route), nowMs: 0)
            XCTAssertEqual(refused.waitMs, 1000)
            XCTAssertEqual(refused.first?.remaining, 8, "the key's bucket must not pay for the route's refusal")
        }
        // Other routes of the same key still have the 8 tokens.
        for _ in 0..<8 { XCTAssertTrue(buckets.take(3, (0, key), nil, nowMs: 0).admitted) }
        XCTAssertFalse(buckets.take(3, (0, key), nil, nowMs: 0).admitted)
        XCTAssertTrue(buckets.take(4, (0, key), nil, nowMs: 0).admitted, "another key is unaffected")
    }

    func testWaitIsTheLongestOfTheBuckets() {
        let fast = TokenRate(count: 10, periodMs: 1000, burst: 1)
        let slow = TokenRate(count: 1, periodMs: 1000, burst: 1)
        let buckets = table()
        XCTAssertTrue(buckets.take(5, (0, fast), (1, slow), nowMs: 0).admitted)
        XCTAssertEqual(buckets.take(5, (0, fast), (1, slow), nowMs: 0).waitMs, 1000)
    }

    func testAClockThatStepsBackNeverAddsTokens() {
        let rate = TokenRate(count: 1, periodMs: 1000, burst: 1)
        let buckets = table()
        XCTAssertTrue(buckets.take(6, (0, rate), nil, nowMs: 5_000).admitted)
        XCTAssertFalse(buckets.take(6, (0, rate), nil, nowMs: 4_000).admitted)
        XCTAssertFalse(buckets.take(6, (0, rate), nil, nowMs: 5_999).admitted)
        XCTAssertTrue(buckets.take(6, (0, rate), nil, nowMs: 6_000).admitted)
    }

    func testIdleFullBucketsAreForgotten() {
        let rate = TokenRate(count: 10, periodMs: 1000, burst: 10)
        let buckets = table()
        for owner in UInt32(0)..<20_000 { _ = buckets.take(owner, (0, rate), nil, nowMs: 0) }
        XCTAssertEqual(buckets.storedCount, 20_000)
        // An hour later every one of them is full again; new traffic sweeps them away.
        for owner in UInt32(20_000)..<40_000 { _ = buckets.take(owner, (0, rate), nil, nowMs: 3_600_000) }
        XCTAssertLessThan(buckets.storedCount, 30_000)
        XCTAssertGreaterThanOrEqual(buckets.storedCount, 20_000 - 64 * BucketTable<UInt32>.minimumSweep)
    }

    /// Several threads hammer one key: admissions never exceed burst + rate × elapsed.
    func testExactUnderConcurrency() {
        let rate = TokenRate(count: 1000, periodMs: 1000, burst: 50)
        let buckets = table()
        let admitted = ManagedCounter()
        let start = monotonicMs()
        let stop = start + 400
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            var mine = 0
            while true {
                let now = monotonicMs()
                if now >= stop { break }
                if buckets.take(42, (0, rate), nil, nowMs: now).admitted { mine += 1 }
            }
            admitted.add(mine)
        }
        let elapsed = Int(monotonicMs() - start)
        XCTAssertLessThanOrEqual(admitted.value, 50 + elapsed)
        XCTAssertGreaterThan(admitted.value, 50 + elapsed / 2, "the bucket should still admit at its rate")
    }

}

private func monotonicMs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}

final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return total }
}
