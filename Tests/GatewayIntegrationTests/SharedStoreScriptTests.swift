import Foundation
import GatewayCore
import XCTest

/// The admit script run by a real redis-server, for what only Redis can show: owed units
/// (`store_sync local_burst`) are charged before the request is checked, whatever it answers.
final class SharedStoreScriptTests: XCTestCase {
    private var redis: RedisServer!
    private let prefix = Array("gw:{script}:".utf8)
    /// 1 a second, burst 2: one token is 1000 units, the bucket holds 2000.
    private let slow = TokenRate(count: 1, periodMs: 1000, burst: 2)

    override func setUpWithError() throws {
        _ = try RedisServer.binary()
        redis = try RedisServer()
    }

    override func tearDown() { redis?.stop() }

    /// Runs `command` as `EVAL` (nothing loaded the script in this server) and reads its answer.
    private func run(_ command: RESPCommand) throws -> LimitCommand.Answer {
        let bytes = try XCTUnwrap(StoreScripts.eval(replacing: command.bytes))
        guard case .value(.array(let items), _) = RESPParser.parse(bytes) else { throw HarnessError("unparsable command") }
        let words = items.map { if case .bulk(let b) = $0 { String(decoding: b, as: UTF8.self) } else { "" } }
        let reply = try redis.command(words)
        return try XCTUnwrap(LimitCommand.answer(reply), "\(reply)")
    }

    private func debt(_ suffix: String) throws -> Int {
        guard case .bulk(let value) = try redis.command(["GET", "gw:{script}:" + suffix]) else { return 0 }
        return Int(String(decoding: value, as: UTF8.self).split(separator: " ")[0]) ?? -1
    }

    private func quotaUsed() throws -> Int {
        guard case .bulk(let value) = try redis.command(["HGET", "gw:{script}:quota", "used"]) else { return 0 }
        return Int(String(decoding: value, as: UTF8.self)) ?? -1
    }

    func testOwedUnitsAreChargedPastTheBurstAndEvenWhenTheRequestIsRefused() throws {
        let limits = CountedLimits(keyRate: slow, routePrefix: "/r/", routeRate: slow, dailyQuota: 10)
        let settled = try run(LimitCommand.settle(OwedUnits(units: 4, limits: limits), prefix: prefix))
        XCTAssertEqual(settled.code, 0, "a settlement asks for nothing")
        XCTAssertGreaterThan(try debt("rate"), 3_000, "4 tokens charged to a bucket of 2: in debt past its burst")
        XCTAssertGreaterThan(try debt("rate:/r/"), 3_000)
        XCTAssertEqual(try quotaUsed(), 4)

        let keys = LimitCommand.Keys(prefix: prefix, globalInStore: true)
        let request = LimitRequest(keyRate: slow, dailyQuota: 10, leaseMs: 1_000)
        let refused = try run(LimitCommand.admit(request, keys: keys, routePrefix: "/other/", member: Array("m".utf8), quotaResetOffsetMs: 0,
                                                 owed: OwedUnits(units: 1, limits: limits)))
        XCTAssertEqual(refused.code, 1, "the key's bucket is in debt")
        XCTAssertGreaterThan(refused.retryMs, 2_000, "it is waited out: about 3 s, not 1")
        XCTAssertEqual(try quotaUsed(), 5, "the owed unit counted; the refused request did not")
        XCTAssertGreaterThan(try debt("rate"), 4_000)
        XCTAssertEqual(try debt("rate:/other/"), 0, "the request's own route bucket is untouched")

        let quotaOnly = try run(LimitCommand.admit(LimitRequest(dailyQuota: 10, leaseMs: 1_000), keys: keys, routePrefix: "/other/",
                                                   member: Array("m".utf8), quotaResetOffsetMs: 0))
        XCTAssertEqual(quotaOnly.code, 0)
        XCTAssertEqual(quotaOnly.quotaRemaining, 4, "10 less 5 owed, less this one")
        XCTAssertNotNil(quotaOnly.quotaDay)
    }
}
