import XCTest
@testable import GatewayCore

/// `store_sync local_burst`: what a loop may admit for a key without asking Redis, what it then
/// owes, and the bound that holds whatever order answers come back in.
final class StoreLocalAllowanceTests: XCTestCase {
    private let key = Array("gw:{0011223344556677}:".utf8)
    private let rate = TokenRate(count: 20, periodMs: 1000, burst: 10)
    private lazy var counted = CountedLimits(keyRate: rate)

    /// An admitting answer: the key bucket's room, the route bucket's, the quota's (-1: none).
    private func admitted(key: Int64, route: Int64 = -1, quota: Int64 = -1) -> LimitCommand.Answer {
        LimitCommand.answer(.array([0, 0, key, 50, route, route < 0 ? -1 : 10, quota < 0 ? -1 : 20000, quota].map { .integer($0) }))!
    }

    /// Sends a command for `key` and reads its answer, as the limit store does.
    @discardableResult
    private func ask(_ allowance: LocalAllowance, _ limits: CountedLimits, _ answer: LimitCommand.Answer?, now: UInt64) -> OwedUnits? {
        let (owed, mark) = allowance.carry(key)
        allowance.ended(key, units: mark.units)
        if let answer { allowance.granted(key, mark, limits, answer: answer, now: now) } else { allowance.refused(key) }
        return owed
    }

    private func spend(_ allowance: LocalAllowance, _ limits: CountedLimits, now: UInt64) -> Int {
        var admitted = 0
        while allowance.take(key, limits, now: now) != nil { admitted += 1 }
        return admitted
    }

    func testACreditIsTheTightestRoomTheAnswerLeftUpToTheBurst() {
        let allowance = LocalAllowance(burst: 5)
        XCTAssertNil(allowance.take(key, counted, now: 0), "nothing before an answer")
        ask(allowance, counted, admitted(key: 3), now: 0)
        XCTAssertEqual(spend(allowance, counted, now: 10), 3)
        ask(allowance, counted, admitted(key: 9), now: 20)
        XCTAssertEqual(spend(allowance, counted, now: 30), 5, "never more than the burst")
        let quota = CountedLimits(keyRate: rate, routePrefix: "/v1/", routeRate: rate, dailyQuota: 100)
        ask(allowance, quota, admitted(key: 9, route: 8, quota: 2), now: 40)
        XCTAssertEqual(spend(allowance, quota, now: 50), 2, "the quota is the tightest")
        ask(allowance, quota, admitted(key: 9, route: -1, quota: 2), now: 60)
        XCTAssertNil(allowance.take(key, quota, now: 70), "an answer without the route bucket's room grants nothing")
    }

    func testLocalAdmissionsAreOwedAndTheNextCommandCarriesThem() {
        let allowance = LocalAllowance(burst: 4)
        ask(allowance, counted, admitted(key: 9), now: 0)
        let headers = allowance.take(key, counted, now: 1)
        XCTAssertEqual(headers?.first, BucketStatus(remaining: 8, msUntilNextToken: 50), "the answer's room less the local uses")
        XCTAssertEqual(headers?.waitMs, 0)
        XCTAssertEqual(spend(allowance, counted, now: 2), 3)
        XCTAssertEqual(ask(allowance, counted, admitted(key: 2), now: 3), OwedUnits(units: 4, limits: counted))
        XCTAssertEqual(spend(allowance, counted, now: 4), 2, "the new answer's room")
        XCTAssertEqual(ask(allowance, counted, nil, now: 5)?.units, 2)
        XCTAssertNil(ask(allowance, counted, nil, now: 6), "owed units are carried once")
    }

    func testARefusalEndsTheCredit() {
        let allowance = LocalAllowance(burst: 4)
        ask(allowance, counted, admitted(key: 9), now: 0)
        XCTAssertNotNil(allowance.take(key, counted, now: 1))
        allowance.refused(key)
        XCTAssertNil(allowance.take(key, counted, now: 2))
        XCTAssertEqual(allowance.carry(key).owed?.units, 1, "what was admitted stays owed")
    }

    func testACreditExpires() {
        let allowance = LocalAllowance(burst: 4)
        ask(allowance, counted, admitted(key: 9), now: 1_000)
        XCTAssertNotNil(allowance.take(key, counted, now: 1_999))
        XCTAssertNil(allowance.take(key, counted, now: 1_000 + LocalAllowance.creditMs))
        XCTAssertNil(allowance.take(key, counted, now: 1_001), "gone for good")
    }

    func testACreditIsSpentOnlyByRequestsWithTheSameLimits() {
        let allowance = LocalAllowance(burst: 4)
        let routeA = CountedLimits(keyRate: rate, routePrefix: "/a/", routeRate: rate)
        let routeB = CountedLimits(keyRate: rate, routePrefix: "/b/", routeRate: rate)
        let quotaA = CountedLimits(keyRate: rate, routePrefix: "/a/", routeRate: rate, dailyQuota: 50)
        ask(allowance, routeA, admitted(key: 9, route: 9), now: 0)
        XCTAssertNil(allowance.take(key, routeB, now: 1), "another route's bucket was not checked")
        XCTAssertNil(allowance.take(key, quotaA, now: 1), "nor the quota")
        XCTAssertNil(allowance.take(key, counted, now: 1), "nor the same key without the route")
        XCTAssertNotNil(allowance.take(key, routeA, now: 1))
        XCTAssertNotNil(allowance.take(key, routeA, now: 1))
        // A route B request leaves with route A's two units, which travel with route A's limits.
        let b = allowance.carry(key)
        XCTAssertEqual(b.owed, OwedUnits(units: 2, limits: routeA))
        XCTAssertEqual(spend(allowance, routeA, now: 2), 2)
        allowance.ended(key, units: b.mark.units)
        allowance.granted(key, b.mark, routeB, answer: admitted(key: 9, route: 9), now: 3)
        XCTAssertNil(allowance.take(key, routeB, now: 4), "route A's units are still owed: nothing for route B yet")
        XCTAssertEqual(ask(allowance, routeB, admitted(key: 9, route: 9), now: 5), OwedUnits(units: 2, limits: routeA))
        XCTAssertEqual(spend(allowance, routeB, now: 6), 4)
        XCTAssertNil(allowance.take(key, routeA, now: 6))
    }

    func testAnAnswerThatMayMissOtherCommandsUnitsGrantsOnlyTheRest() {
        let allowance = LocalAllowance(burst: 5)
        ask(allowance, counted, admitted(key: 9), now: 0)
        XCTAssertEqual(spend(allowance, counted, now: 1), 5)
        // A leaves with the 5 owed; B leaves after it with none; B's answer comes first.
        let a = allowance.carry(key), b = allowance.carry(key)
        XCTAssertEqual(a.mark.units, 5)
        XCTAssertEqual(b.mark.units, 0)
        allowance.granted(key, b.mark, counted, answer: admitted(key: 9), now: 2)
        XCTAssertEqual(spend(allowance, counted, now: 3), 0, "B may have run before A: A's 5 count against it")
        allowance.ended(key, units: 5)
        allowance.granted(key, a.mark, counted, answer: admitted(key: 9), now: 4)
        XCTAssertEqual(spend(allowance, counted, now: 5), 5, "A's answer includes its own units")
        // C leaves with those 5; D's answer, sent while C was out, grants nothing; C's, read later, still does.
        let c = allowance.carry(key), d = allowance.carry(key)
        allowance.ended(key, units: c.mark.units)
        allowance.granted(key, c.mark, counted, answer: admitted(key: 9), now: 6)
        allowance.granted(key, d.mark, counted, answer: admitted(key: 9), now: 7)
        XCTAssertNotNil(allowance.take(key, counted, now: 8), "a less certain answer does not undo a better grant")
        XCTAssertNotNil(allowance.take(key, counted, now: 8))
        allowance.granted(key, d.mark, counted, answer: admitted(key: 3), now: 9)
        XCTAssertEqual(spend(allowance, counted, now: 10), 1, "but what is kept stays within the latest room less what is owed")
    }

    func testTheUnitsRedisHasNotCountedNeverExceedTheBurstWhateverTheOrder() {
        // A Redis with room to spare applies the commands in any order and answers them in any
        // order; the loop spends every credit it gets at once. Whatever happens, what it admitted
        // locally that Redis has not applied yet stays within the burst.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let burst = Int.random(in: 1...8, using: &generator)
            let allowance = LocalAllowance(burst: burst)
            var sent: [LocalAllowance.Mark] = [], applied: [LocalAllowance.Mark] = []
            var admittedLocally = 0, charged = 0
            for step in 0..<80 {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    sent.append(allowance.carry(key).mark)
                case 1 where !sent.isEmpty:
                    let mark = sent.remove(at: Int.random(in: 0..<sent.count, using: &generator))
                    charged += mark.units
                    applied.append(mark)
                case 2 where !applied.isEmpty:
                    let mark = applied.remove(at: Int.random(in: 0..<applied.count, using: &generator))
                    allowance.ended(key, units: mark.units)
                    allowance.granted(key, mark, counted, answer: admitted(key: 1_000), now: UInt64(step))
                default:
                    break
                }
                admittedLocally += spend(allowance, counted, now: UInt64(step))
                guard admittedLocally - charged <= burst else {
                    return XCTFail("burst \(burst), step \(step): \(admittedLocally - charged) admitted locally and not yet charged")
                }
            }
        }
    }

    func testMemoryIsBoundedAndQuietKeysSettleWhatTheyOwe() throws {
        let allowance = LocalAllowance(burst: 3, capacity: 2)
        let keys = (0..<3).map { Array("gw:{k\($0)}:".utf8) }
        for k in keys {
            let (_, mark) = allowance.carry(k)
            allowance.granted(k, mark, counted, answer: admitted(key: 9), now: 0)
        }
        XCTAssertEqual(allowance.count, 2)
        XCTAssertNil(allowance.take(keys[2], counted, now: 1), "a full table grants nothing more")
        XCTAssertNotNil(allowance.take(keys[0], counted, now: 1))
        XCTAssertNotNil(allowance.take(keys[0], counted, now: 1))
        XCTAssertTrue(allowance.sweep(now: 999).isEmpty, "credits still running")
        let settlements = allowance.sweep(now: 1_000)
        XCTAssertEqual(settlements.map(\.prefix), [keys[0]])
        let settlement = try XCTUnwrap(settlements.first)
        XCTAssertEqual(settlement.units, 2)
        XCTAssertEqual(settlement.command, LimitCommand.settle(OwedUnits(units: 2, limits: counted), prefix: keys[0]))
        XCTAssertEqual(allowance.count, 1, "the key that owed nothing is forgotten")
        XCTAssertTrue(allowance.sweep(now: 1_250).isEmpty)
        XCTAssertEqual(allowance.count, 1, "the settlement is still out")
        allowance.ended(keys[0], units: 2)
        _ = allowance.sweep(now: 1_500)
        XCTAssertEqual(allowance.count, 0)
    }

    func testAnAnswerFromBeforeTheKeyWasForgottenCountsEveryUnitSentSince() {
        let allowance = LocalAllowance(burst: 4)
        let old = allowance.carry(key).mark
        ask(allowance, counted, admitted(key: 9), now: 0)
        XCTAssertEqual(spend(allowance, counted, now: 1), 4)
        let out = allowance.carry(key).mark
        XCTAssertEqual(out.units, 4)
        allowance.granted(key, old, counted, answer: admitted(key: 9), now: 2)
        XCTAssertEqual(spend(allowance, counted, now: 3), 0, "the 4 sent since it left may be missing from its answer")
    }
}
