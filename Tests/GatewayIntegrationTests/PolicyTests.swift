import Foundation
import XCTest

/// API keys, buckets, concurrency and quotas end to end: real gateway, real mock upstream, raw sockets.
final class PolicyTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        try deployment.startGateway("""
        anonymous { rate 1/s burst 3; }
        global_concurrency 40;
        rate_limit_headers both;
        plan basic { rate 6/m burst 5; daily_quota 3; }
        plan pair { rate 1000/s burst 1000; concurrency 2; }
        plan roomy { rate 1000/s burst 1000; concurrency 20; }
        plan single { concurrency 1; }
        key plain:k-basic { plan basic; scopes messages:write; }
        key plain:k-other { plan basic; scopes messages:write; }
        key plain:k-pair { plan pair; }
        key plain:k-roomy { plan roomy; }
        key plain:k-expired { plan roomy; expires 2020-01-01T00:00:00Z; }
        key plain:k-single { plan single; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/messages { upstream messaging; auth required; scope messages:write; quota counts POST; }
        route /v1/ { upstream messaging; auth required; }
        route /healthz { upstream messaging; auth public; }
        """)
    }

    override func tearDown() { deployment.stop() }

    func client() throws -> RawClient { try RawClient(port: deployment.gatewayPort) }

    func withKey(_ key: String, _ path: String = "/v1/sessions/a") -> String { get(path, headers: "X-API-Key: \(key)\r\n") }

    /// Waits until the upstream has received `count` requests in all: those are admitted and in flight.
    func waitUntilUpstreamSaw(_ count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let reached = try eventually(timeout: 5) { try mockStats(port: mock).requests >= count }
        XCTAssertTrue(reached, "the upstream never saw \(count) requests", file: file, line: line)
    }

    private func assertError(_ response: WireResponse, _ status: Int, _ code: String, retryAfter: Int? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertEqual(response.json["success"] as? Bool, false, file: file, line: line)
        XCTAssertEqual(response.errorObject["code"] as? String, code, file: file, line: line)
        XCTAssertEqual(response.errorObject["request_id"] as? String, response.header("X-Request-Id"), file: file, line: line)
        XCTAssertEqual(response.header("Content-Type"), "application/json", file: file, line: line)
        XCTAssertEqual(response.header("Retry-After").flatMap { Int($0) }, retryAfter, file: file, line: line)
        let details = response.errorObject["details"] as? [String: Any]
        XCTAssertEqual(details?["retry_after_s"] as? Int, retryAfter, file: file, line: line)
    }

    func testAuthenticationErrorsThenKeyGuessingIsThrottled() throws {
        let c = try client()
        assertError(try c.exchange(get("/v1/sessions/a")), 401, "missing_api_key")
        assertError(try c.exchange(withKey("wrong")), 401, "invalid_api_key")
        assertError(try c.exchange(get("/v1/sessions/a", headers: "Authorization: Bearer k-expired\r\n")), 401, "expired_api_key")
        let forbidden = try c.exchange(withKey("k-roomy", "/v1/messages/text"))
        assertError(forbidden, 403, "insufficient_permissions")
        XCTAssertEqual((forbidden.errorObject["details"] as? [String: Any])?["scope"] as? String, "messages:write")
        // Three failures emptied the client's anonymous bucket (burst 3): the 429 now comes before the 401.
        assertError(try c.exchange(withKey("guess")), 429, "rate_limit_exceeded", retryAfter: 1)
        assertError(try c.exchange(get("/healthz")), 429, "rate_limit_exceeded", retryAfter: 1)
        XCTAssertEqual(try c.exchange(withKey("k-roomy")).status, 200, "a valid key is not held back")
        XCTAssertFalse(deployment.gateway!.output.contains("k-expired"), "keys never reach the log")
    }

    func testBurstThen429WithRefillTimeAndHeaders() throws {
        let c = try client()
        for remaining in (0..<5).reversed() {
            let ok = try c.exchange(withKey("k-basic"))
            XCTAssertEqual(ok.status, 200)
            XCTAssertEqual(ok.header("RateLimit-Policy"), "\"basic\";q=6;w=60", "the real rate, 6 per minute")
            XCTAssertEqual(ok.header("RateLimit"), "\"basic\";r=\(remaining);t=10", "a token every 10 s")
            XCTAssertEqual(ok.header("X-RateLimit-Limit"), "6")
            XCTAssertEqual(ok.header("X-RateLimit-Remaining"), "\(remaining)")
        }
        // 6 per minute: the next token is 10 s after the first one was taken.
        let refused = try c.exchange(withKey("k-basic"))
        assertError(refused, 429, "rate_limit_exceeded", retryAfter: 10)
        XCTAssertEqual(refused.header("RateLimit"), "\"basic\";r=0;t=10", "t and Retry-After name the same instant")
        XCTAssertEqual(refused.header("X-RateLimit-Remaining"), "0")
        XCTAssertEqual(try c.exchange(withKey("k-other")).status, 200, "one key's exhaustion never affects another")
        XCTAssertNil(try c.exchange(get("/healthz")).header("RateLimit"), "anonymous requests get no RateLimit headers")
    }

    func testConcurrencyLimitAndRecovery() throws {
        let slow = try (0..<2).map { _ in try client() }
        for c in slow { try c.send(withKey("k-pair", "/v1/sessions/a?delay_ms=1500")) }
        try waitUntilUpstreamSaw(2)
        let c = try client()
        assertError(try c.exchange(withKey("k-pair")), 429, "concurrent_request_limit_exceeded", retryAfter: 1)
        XCTAssertEqual(try c.exchange(withKey("k-roomy")).status, 200, "other keys are unaffected")
        XCTAssertEqual(try slow[0].readResponse().status, 200)
        XCTAssertEqual(try c.exchange(withKey("k-pair")).status, 200, "a finished request frees its slot")
        XCTAssertEqual(try slow[1].readResponse().status, 200)
    }

    func testAbortedRequestsReleaseTheirSlots() throws {
        for _ in 0..<100 {
            let batch = try (0..<10).map { _ in try client() }
            for c in batch { try c.send(withKey("k-roomy", "/v1/sessions/a?delay_ms=500")) }
            usleep(20_000)
        }
        // Aborted exchanges release their slots as the loops notice the closes: poll, never sleep.
        let c = try client()
        XCTAssertTrue(try eventually { try c.exchange(withKey("k-single")).status == 200 }, "no global slot leaked")
        XCTAssertTrue(try eventually { try c.exchange(withKey("k-roomy")).status == 200 }, "no slot of the key leaked")
        let before = try mockStats(port: mock).requests
        let slow = try client()
        try slow.send(withKey("k-single", "/v1/sessions/a?delay_ms=800"))
        try waitUntilUpstreamSaw(before + 1)
        assertError(try c.exchange(withKey("k-single")), 429, "concurrent_request_limit_exceeded", retryAfter: 1)
        XCTAssertEqual(try slow.readResponse().status, 200)
    }

    func testDailyQuotaCountsPostsUntilTheResetAt() throws {
        let c = try client()
        let send = post("/v1/messages/text", body: #"{"to":"+15550100","text":"hi"}"#, headers: "X-API-Key: k-other\r\n")
        for _ in 0..<3 { XCTAssertEqual(try c.exchange(send).status, 201) }
        XCTAssertEqual(try c.exchange(withKey("k-other", "/v1/messages/msg_1")).status, 200, "GET does not count")
        // Seconds to the next UTC midnight, read on both sides of the request: a run that straddles
        // midnight still knows what to expect.
        func untilMidnight() -> Int {
            let now = Date().timeIntervalSince1970
            return Int(ceil((floor(now / 86_400) + 1) * 86_400 - now))
        }
        let before = untilMidnight()
        let spent = try c.exchange(send)
        let after = untilMidnight()
        XCTAssertEqual(spent.status, 403)
        XCTAssertEqual(spent.errorObject["code"] as? String, "daily_message_limit_reached")
        let retry = try XCTUnwrap(spent.header("Retry-After").flatMap { Int($0) })
        let expected = before >= after ? after...before : 0...max(before, after)
        XCTAssertTrue(expected.contains(retry) || expected.contains(retry - 1) || expected.contains(retry + 1),
                      "Retry-After \(retry) s, expected within \(expected)")
        XCTAssertEqual((spent.errorObject["details"] as? [String: Any])?["retry_after_s"] as? Int, retry)
        XCTAssertNotNil(spent.header("RateLimit"), "gateway errors carry the RateLimit headers too")
    }
}
