import XCTest
@testable import GatewayCore

/// The limit scripts' arguments, byte for byte, and the reading of their answers.
final class StoreLimitCommandTests: XCTestCase {
    private let keys = LimitCommand.Keys(prefix: Array("gw:{t}:".utf8), globalInStore: true)

    private func words(_ command: RESPCommand) -> [String] {
        guard case .value(.array(let items), _) = RESPParser.parse(command.bytes) else { return [] }
        return items.map { if case .bulk(let b) = $0 { String(decoding: b, as: UTF8.self) } else { "?" } }
    }

    func testAdmitCarriesEveryLimitInItsPlace() {
        let request = LimitRequest(keyRate: TokenRate(count: 100, periodMs: 60_000, burst: 20),
                                   routeRate: (slot: 3, rate: TokenRate(count: 10, periodMs: 1000, burst: 5)),
                                   keyConcurrency: 5, globalConcurrency: 1000, dailyQuota: 1000, leaseMs: 32_000)
        let command = LimitCommand.admit(request, keys: keys, routePrefix: "/v1/messages", member: Array("ab:1".utf8),
                                         quotaResetOffsetMs: 3_600_000)
        XCTAssertTrue(command.isComplete)
        XCTAssertEqual(words(command), [
            "EVALSHA", String(decoding: LimitScripts.admit.sha1, as: UTF8.self), "6",
            "gw:{t}:rate", "gw:{t}:rate:/v1/messages", "gw:{t}:slots", "gw:{global}:slots", "gw:{t}:quota", "gw:{t}:rate:/v1/messages",
            "ab:1", "32000", "100", "60000", "20", "10", "1000", "5", "5", "1000", "1000", "3600000",
            "0", "0", "0", "0", "0", "0", "0", "0",
        ])
    }

    func testOwedUnitsTravelWithTheLimitsTheyWereAdmittedUnder() {
        let owed = OwedUnits(units: 4, limits: CountedLimits(keyRate: TokenRate(count: 100, periodMs: 60_000, burst: 20), routePrefix: "/v1/a",
                                                             routeRate: TokenRate(count: 10, periodMs: 1000, burst: 5), dailyQuota: 50,
                                                             quotaResetOffsetMs: 7_200_000))
        let request = LimitRequest(keyRate: TokenRate(count: 100, periodMs: 60_000, burst: 20), leaseMs: 9_000)
        let sent = words(LimitCommand.admit(request, keys: keys, routePrefix: "/v1/b", member: [0x6d], quotaResetOffsetMs: 0, owed: owed))
        XCTAssertEqual(sent[4], "gw:{t}:rate:/v1/b", "the request's own route bucket")
        XCTAssertEqual(sent[8], "gw:{t}:rate:/v1/a", "the owed units' route bucket")
        XCTAssertEqual(Array(sent[21...]), ["4", "100", "60000", "20", "10", "1000", "5", "1"])
        let withoutRoute = OwedUnits(units: 2, limits: CountedLimits(keyRate: TokenRate(count: 1, periodMs: 1000, burst: 1), routePrefix: "/v1/a"))
        let plain = words(LimitCommand.admit(request, keys: keys, routePrefix: "/v1/b", member: [0x6d], quotaResetOffsetMs: 0, owed: withoutRoute))
        XCTAssertEqual(plain[8], "gw:{t}:rate:/v1/b", "no route rate: the sixth key is only a placeholder in the slot")
        XCTAssertEqual(Array(plain[21...]), ["2", "1", "1000", "1", "0", "0", "0", "0"])
        let settle = LimitCommand.settle(owed, prefix: keys.prefix)
        XCTAssertTrue(settle.isComplete)
        let settled = words(settle)
        XCTAssertEqual(Array(settled[3...9]), ["gw:{t}:rate", "gw:{t}:rate:/v1/a", "gw:{t}:slots", "gw:{t}:slots", "gw:{t}:quota",
                                               "gw:{t}:rate:/v1/a", ""], "a settlement stays in the key's slot")
        XCTAssertEqual(Array(settled[10...20]), ["0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "7200000"], "it asks for nothing")
        XCTAssertEqual(Array(settled[21...]), ["4", "100", "60000", "20", "10", "1000", "5", "1"])
    }

    func testLimitsThatDoNotApplyAreZeroAndAClusterKeepsTheGlobalSlotsOut() {
        let cluster = LimitCommand.Keys(prefix: keys.prefix, globalInStore: false)
        let request = LimitRequest(globalConcurrency: 7, leaseMs: 5_000)
        let sent = words(LimitCommand.admit(request, keys: cluster, routePrefix: "/", member: [0x6d], quotaResetOffsetMs: 0))
        XCTAssertEqual(Array(sent[3...]), ["gw:{t}:rate", "gw:{t}:rate:/", "gw:{t}:slots", "gw:{t}:slots", "gw:{t}:quota", "gw:{t}:rate:/",
                                           "m", "5000", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
                                           "0", "0", "0", "0", "0", "0", "0", "0"])
        XCTAssertEqual(Set(sent[3...8].map { ClusterSlot.slot($0) }).count, 1, "every key of a cluster script in one slot")
    }

    func testReleaseAndRenew() {
        let refund = LimitCommand.release(keys: keys, member: [0x6d], refundDay: 20787, slots: (true, true))
        XCTAssertEqual(refund.count, 1)
        XCTAssertEqual(Array(words(refund[0])[3...]), ["gw:{t}:slots", "gw:{global}:slots", "gw:{t}:quota", "release", "m", "20787"])
        XCTAssertEqual(LimitCommand.release(keys: keys, member: [0x6d], refundDay: nil, slots: (true, true)).map(words),
                       [["ZREM", "gw:{t}:slots", "m"], ["ZREM", "gw:{global}:slots", "m"]], "no script without a unit to give back")
        XCTAssertEqual(LimitCommand.release(keys: keys, member: [0x6d], refundDay: nil, slots: (false, true)).map(words),
                       [["ZREM", "gw:{global}:slots", "m"]])
        XCTAssertEqual(Array(words(LimitCommand.renew(keys: keys, member: [0x6d], leaseMs: 9000))[6...]), ["renew", "m", "9000"])
        XCTAssertEqual(words(LimitCommand.renew(keys: keys, member: [], leaseMs: 1))[1], String(decoding: LimitScripts.lease.sha1, as: UTF8.self))
    }

    func testAnswersBecomeDecisions() throws {
        func answer(_ numbers: [Int64]) -> LimitCommand.Answer? { LimitCommand.answer(.array(numbers.map { .integer($0) })) }
        let admitted = try XCTUnwrap(answer([0, 0, 19, 600, -1, -1, 20787, 41]))
        XCTAssertEqual(admitted.quotaDay, 20787)
        XCTAssertEqual(admitted.quotaRemaining, 41)
        XCTAssertNil(try XCTUnwrap(answer([0, 0, 19, 600, -1, -1, -1, -1])).quotaRemaining)
        XCTAssertEqual(LimitCommand.decision(admitted),
                       .admitted(BucketVerdict(waitMs: 0, first: BucketStatus(remaining: 19, msUntilNextToken: 600), second: nil)))
        let routeEmpty = try XCTUnwrap(answer([1, 250, 3, 100, 0, 250, -1, -1]))
        XCTAssertEqual(LimitCommand.decision(routeEmpty),
                       .refused(.routeRate, BucketVerdict(waitMs: 250, first: BucketStatus(remaining: 3, msUntilNextToken: 100),
                                                          second: BucketStatus(remaining: 0, msUntilNextToken: 250)), retryAfterMs: 250))
        guard case .refused(.keyRate, _, _) = LimitCommand.decision(try XCTUnwrap(answer([1, 9, 0, 9, 0, 5, -1, -1]))) else {
            return XCTFail("the key's own bucket is named first when both are empty")
        }
        guard case .refused(.globalConcurrency, _, 1000) = LimitCommand.decision(try XCTUnwrap(answer([2, 0, -1, -1, -1, -1, -1, -1]))) else { return XCTFail() }
        guard case .refused(.keyConcurrency, _, 1000) = LimitCommand.decision(try XCTUnwrap(answer([3, 0, -1, -1, -1, -1, -1, -1]))) else { return XCTFail() }
        guard case .refused(.dailyQuota, _, 7_200_000) = LimitCommand.decision(try XCTUnwrap(answer([4, 7_200_000, -1, -1, -1, -1, -1, 0]))) else {
            return XCTFail()
        }
        XCTAssertNil(answer([5, 0, 0, 0, 0, 0, 0, 0]))
        XCTAssertNil(answer([0, 0, 19, 600, -1, -1, 20787]), "seven integers: an older script's answer")
        XCTAssertNil(answer([0, 0, 0]))
        XCTAssertNil(LimitCommand.answer(.error(Array("ERR oops".utf8))))
    }

    func testAnAbandonedRequestsUndoRoundTrips() throws {
        let undo = RedisLimitStore.Undo(keys: keys, member: Array("ab:7".utf8), localGlobal: true, owed: 1000)
        let back = try XCTUnwrap(RedisLimitStore.Undo(undo.bytes))
        XCTAssertEqual(back.keys.prefix, keys.prefix)
        XCTAssertTrue(back.keys.globalInStore)
        XCTAssertEqual(back.member, Array("ab:7".utf8))
        XCTAssertTrue(back.localGlobal)
        XCTAssertEqual(back.owed, 1000)
        XCTAssertNil(RedisLimitStore.Undo([1, 0, 0]))
    }

    func testScriptsAreFoundByTheirDigestForEval() throws {
        XCTAssertEqual(LimitScripts.admit.sha1.count, 40)
        XCTAssertNotEqual(LimitScripts.admit.sha1, LimitScripts.lease.sha1)
        let evalsha = LimitCommand.renew(keys: keys, member: [0x6d], leaseMs: 9000)
        let eval = try XCTUnwrap(StoreScripts.eval(replacing: evalsha.bytes))
        guard case .value(.array(let items), _) = RESPParser.parse(eval) else { return XCTFail() }
        XCTAssertEqual(items.first, .bulk(Array("EVAL".utf8)))
        XCTAssertEqual(items[1], .bulk(Array(LimitScripts.lease.source.utf8)))
        XCTAssertEqual(items.count, 9)
        XCTAssertNil(StoreScripts.eval(replacing: RESPCommand(["EVALSHA", "0000", "0"]).bytes))
    }

    func testLeasesAreRenewedEveryThirdOfTheirLength() {
        let book = LeaseBook(seed: 0xAB)
        let id = book.take()
        XCTAssertEqual(book.member(id), Array("ab:1".utf8))
        book.hold(id, keys: keys, ms: 3000, now: 10_000)
        XCTAssertTrue(book.renewals(now: 10_999).isEmpty)
        XCTAssertEqual(book.renewals(now: 11_000).count, 1)
        XCTAssertTrue(book.renewals(now: 11_500).isEmpty)
        XCTAssertEqual(book.renewals(now: 12_000).first?.slot, keys.slot)
        book.drop(id)
        XCTAssertTrue(book.renewals(now: 99_000).isEmpty)
        XCTAssertEqual(book.count, 0)
    }
}
