import XCTest
@testable import GatewayCore

final class PolicyKeyTests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(KeyHash.hex(KeyHash.sha256("test")), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
        XCTAssertEqual(KeyHash.hex(KeyHash.sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(KeyHash.fingerprint(KeyHash.sha256("test")), "9f86d081")
    }

    func testHexRoundTripAndRejects() {
        let digest = KeyHash.sha256("demo-key-123")
        XCTAssertEqual(KeyHash.parseHex(KeyHash.hex(digest)), digest)
        XCTAssertEqual(KeyHash.parseHex(KeyHash.hex(digest).uppercased()), digest)
        XCTAssertNil(KeyHash.parseHex(String(KeyHash.hex(digest).dropLast())))
        XCTAssertNil(KeyHash.parseHex(String(KeyHash.hex(digest).dropLast()) + "g"))
    }

    func testDirectoryLooksUpEveryKeyAndNothingElse() {
        var directory = KeyDirectory()
        for i in 0..<5_000 {
            XCTAssertTrue(directory.insert(digest: KeyHash.sha256("key-\(i)"), KeyEntry(policy: UInt32(i % 3))))
        }
        XCTAssertFalse(directory.insert(digest: KeyHash.sha256("key-7"), KeyEntry(policy: 0)), "duplicates are refused")
        XCTAssertEqual(directory.count, 5_000)
        for i in stride(from: 0, to: 5_000, by: 7) {
            let index = KeyHash.sha256("key-\(i)").withUnsafeBufferPointer { directory.lookup($0.baseAddress!) }
            XCTAssertEqual(index, UInt32(i))
            XCTAssertEqual(directory.entries[i].policy, UInt32(i % 3))
        }
        // Same home slot and all bytes but the last equal: found only through the full comparison.
        var nearMiss = KeyHash.sha256("key-1")
        nearMiss[31] ^= 1
        XCTAssertNil(nearMiss.withUnsafeBufferPointer { directory.lookup($0.baseAddress!) })
        XCTAssertNil(KeyHash.sha256("key-5000").withUnsafeBufferPointer { directory.lookup($0.baseAddress!) })
        XCTAssertEqual(String(directory.fingerprint(of: 3), radix: 16).leftPadded(to: 8), KeyHash.fingerprint(KeyHash.sha256("key-3")))
    }

    func testEmptyDirectoryFindsNothing() {
        XCTAssertNil(KeyHash.sha256("x").withUnsafeBufferPointer { KeyDirectory().lookup($0.baseAddress!) })
    }

    func testPlanOverrideKeepsUnsetLimits() {
        let plan = PolicyLimits(rate: TokenRate(count: 100, periodMs: 60_000, burst: 20), concurrency: 5, dailyQuota: 1000)
        let merged = plan.overridden(by: PolicyLimits(concurrency: 1))
        XCTAssertEqual(merged, PolicyLimits(rate: plan.rate, concurrency: 1, dailyQuota: 1000))
    }

    func testQuotaCalendarDaysAndReset() {
        let utc = QuotaCalendar(resetOffsetMs: 0)
        let day = Int64(86_400_000)
        XCTAssertEqual(utc.day(wallMs: UInt64(20_000 * day - 1)), 19_999)
        XCTAssertEqual(utc.day(wallMs: UInt64(20_000 * day)), 20_000)
        XCTAssertEqual(utc.secondsUntilReset(wallMs: UInt64(20_000 * day - 1)), 1)
        XCTAssertEqual(utc.secondsUntilReset(wallMs: UInt64(20_000 * day)), 86_400)
        let sixAM = QuotaCalendar(resetOffsetMs: 6 * 3_600_000)
        XCTAssertEqual(sixAM.day(wallMs: UInt64(20_000 * day + 5 * 3_600_000)), 19_999)
        XCTAssertEqual(sixAM.secondsUntilReset(wallMs: UInt64(20_000 * day + 5 * 3_600_000)), 3600)
    }

    func testQuotaBookChargesRefundsAndResets() {
        let book = QuotaBook()
        XCTAssertTrue(book.charge(1, limit: 2, day: 10))
        XCTAssertTrue(book.charge(1, limit: 2, day: 10))
        XCTAssertFalse(book.charge(1, limit: 2, day: 10))
        XCTAssertEqual(book.used(1, day: 10), 2, "a refusal counts nothing")
        book.refund(1, day: 10)
        XCTAssertTrue(book.charge(1, limit: 2, day: 10))
        book.refund(1, day: 9)
        XCTAssertEqual(book.used(1, day: 10), 2, "a refund for a past day changes nothing")
        XCTAssertTrue(book.charge(1, limit: 2, day: 11), "a new day starts from zero")
        XCTAssertTrue(book.charge(2, limit: 2, day: 10), "keys are independent")
    }

    func testConcurrencyGate() {
        let gate = ConcurrencyGate()
        XCTAssertTrue(gate.acquire(7, limit: 2))
        XCTAssertTrue(gate.acquire(7, limit: 2))
        XCTAssertFalse(gate.acquire(7, limit: 2))
        gate.release(7)
        XCTAssertTrue(gate.acquire(7, limit: 2))
        gate.release(7)
        gate.release(7)
        XCTAssertEqual(gate.inFlight(7), 0)
        XCTAssertTrue(gate.acquireGlobal(limit: 3) && gate.acquireGlobal(limit: 3) && gate.acquireGlobal(limit: 3))
        XCTAssertFalse(gate.acquireGlobal(limit: 3))
        XCTAssertEqual(gate.globalInFlight, 3)
        gate.releaseGlobal()
        XCTAssertTrue(gate.acquireGlobal(limit: 3))
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
