import Foundation
import XCTest

/// Three gateway processes sharing one Redis (`store redis://...`), clients spread over them
/// round robin: rate, concurrency, quota and Idempotency-Key hold across instances.
final class SharedStoreTests: XCTestCase {
    private var fleet: Fleet!

    override func setUpWithError() throws {
        _ = try RedisServer.binary()
        fleet = try Fleet { mock in
            """
            rate_limit_headers ietf;
            plan paced { rate 20/s burst 10; }
            plan pair { concurrency 3; }
            plan counted { daily_quota 5; }
            key plain:k-paced { plan paced; }
            key plain:k-pair { plan pair; }
            key plain:k-counted { plan counted; }
            upstream messaging { server 127.0.0.1:\(mock); response_timeout 5s; }
            route /v1/messages { upstream messaging; auth required; quota counts POST; }
            route /v1/ { upstream messaging; auth required; }
            """
        }
    }

    override func tearDown() { fleet?.stop() }

    private func request(_ port: UInt16, _ text: String) throws -> WireResponse {
        try RawClient(port: port).exchange(text)
    }

    func testAKeysAdmittedRequestsAcrossInstancesNeverExceedBurstPlusRate() throws {
        // 8 clients each send 25 requests a second, round robin over the three instances: 10x the rate.
        let (outcomes, elapsed) = fleet.paced(key: "k-paced", clients: 8, perSecond: 25, seconds: 3)
        let statuses = outcomes.map(\.status)
        let admitted = statuses.filter { $0 == 200 }.count, refused = statuses.filter { $0 == 429 }.count
        let other = statuses.filter { $0 != 200 && $0 != 429 }
        let admittedByInstance = (0..<3).map { i in outcomes.filter { $0.instance == i && $0.status == 200 }.count }
        let ceiling = 10 + Int(20 * elapsed)
        XCTAssertTrue(other.isEmpty, "only 200 and 429 expected, got \(other)")
        XCTAssertLessThanOrEqual(admitted, ceiling, "admitted \(admitted) in \(elapsed) s: more than burst + rate x elapsed")
        XCTAssertGreaterThanOrEqual(admitted, Int(20 * elapsed * 0.7), "the key got far less than its rate: \(admitted) in \(elapsed) s")
        XCTAssertGreaterThan(refused, admitted, "the load was 10x the rate")
        XCTAssertTrue(admittedByInstance.allSatisfy { $0 > 0 }, "every instance admitted some: \(admittedByInstance)")
    }

    func testConcurrencyAcrossInstancesNeverExceedsTheKeysLimit() throws {
        let ports = fleet.ports
        for round in 0..<2 {
            let results = ResultBox()
            onThreads(12) { i in
                let request = get("/v1/sessions/a?delay_ms=700&r=\(round)", headers: "X-API-Key: k-pair\r\n")
                results.add((try? RawClient(port: ports[i % 3]).exchange(request))?.status ?? 0)
            }
            let statuses = results.values
            XCTAssertEqual(statuses.filter { $0 == 200 }.count, 3, "round \(round): \(statuses)")
            XCTAssertEqual(statuses.filter { $0 == 429 }.count, 9, "round \(round): \(statuses)")
        }
    }

    func testADailyQuotaIsSharedAndSurvivesRestartingEveryGateway() throws {
        let send = { (port: UInt16) in try self.request(port, post("/v1/messages/text", body: "{}", headers: "X-API-Key: k-counted\r\n")) }
        for i in 0..<5 { XCTAssertEqual(try send(fleet.ports[i % 3]).status, 201) }
        let spent = try send(fleet.ports[2])
        XCTAssertEqual(spent.status, 403)
        XCTAssertEqual(spent.errorObject["code"] as? String, "daily_message_limit_reached")
        XCTAssertNotNil(spent.header("Retry-After"))
        try fleet.restartAll()
        for port in fleet.ports {
            XCTAssertEqual(try send(port).errorObject["code"] as? String, "daily_message_limit_reached", "the quota was forgotten")
        }
    }

    func testAnIdempotencyKeyExecutesOnceWhicheverInstanceTheRetriesReach() throws {
        let ports = fleet.ports
        let first = "/v1/messages/text?delay_ms=800"
        let keyed = { (port: UInt16) in
            try self.request(port, post(first, body: "{\"to\":\"+1555\"}", headers: "X-API-Key: k-paced\r\nIdempotency-Key: order-77\r\n"))
        }
        let original = ResponseBox()
        let firstRequest = post(first, body: "{\"to\":\"+1555\"}", headers: "X-API-Key: k-paced\r\nIdempotency-Key: order-77\r\n")
        let firstPort = ports[0]
        DispatchQueue.global().async {
            original.set(Result { (try RawClient(port: firstPort).exchange(firstRequest), false) })
        }
        XCTAssertTrue(try eventually(timeout: 5) { try mockStats(port: fleet.mock).requests >= 1 })
        for port in ports.dropFirst() {
            let busy = try keyed(port)
            XCTAssertEqual(busy.status, 409, busy.text)
            XCTAssertEqual((busy.errorObject["details"] as? [String: Any])?["reason"] as? String, "in_progress")
            XCTAssertEqual(busy.header("Retry-After"), "1")
        }
        let answer = try original.wait().get().0
        XCTAssertEqual(answer.status, 201)
        for port in ports.dropFirst() + [ports[0]] {
            let replay = try keyed(port)
            XCTAssertEqual(replay.status, answer.status)
            XCTAssertEqual(replay.body, answer.body, "replayed byte for byte")
            XCTAssertEqual(replay.header("X-Request-Id"), answer.header("X-Request-Id"))
            XCTAssertEqual(replay.header("Idempotent-Replayed"), "true")
        }
        XCTAssertEqual(try mockStats(port: fleet.mock).paths["POST /v1/messages/text"], 1, "executed exactly once")
    }
}

/// Runs `body(0..<count)` on that many threads at once (not a pool as wide as the CPUs) and waits.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        Thread.detachNewThread {
            body(index)
            group.leave()
        }
    }
    group.wait()
}
