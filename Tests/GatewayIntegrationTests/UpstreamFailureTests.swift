import Foundation
import XCTest

/// Upstream failures seen through the gateway: an HTML error page, a refused connection, a slow
/// or stalled upstream, a closed or reset connection before the response, and one that breaks
/// after the response started. The gateway keeps serving after every one.
final class UpstreamFailureTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0
    var deadPort: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        deadPort = freePort()  // nobody listens there: connections are refused
        // messaging: a 300 ms response_timeout for the timeout tests (max_fails=0: timeouts are not health
        // events here; ejection is BalancingTests' subject); plain: the default 30 s response_timeout, so
        // nothing on it is rescued by a timer; nowhere: a single server that refuses every connection.
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(mock) max_fails=0; response_timeout 300ms; }
        upstream plain { server 127.0.0.1:\(mock) max_fails=0; }
        upstream nowhere { server 127.0.0.1:\(deadPort); }
        route /v1/ { upstream messaging; }
        route /v1/bytes/ { upstream plain; }
        route /dead/ { upstream nowhere; }
        errors { retry_after_default 7s; }
        """)
    }

    override func tearDown() { deployment.stop() }

    func client(timeout: TimeInterval = 5) throws -> RawClient { try RawClient(port: deployment.gatewayPort, timeout: timeout) }

    /// The next request on a new connection is served normally.
    func assertGatewayStillServes(file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try client().exchange(get("/v1/sessions/after", headers: "Connection: close\r\n"))
        XCTAssertEqual(response.status, 200, "gateway no longer serves: \(response.text)", file: file, line: line)
        XCTAssertEqual((response.json["data"] as? [String: Any])?["id"] as? String, "after", file: file, line: line)
    }

    func testHTMLErrorPageBecomes502BadGatewayWithoutTheBody() throws {
        let response = try client().exchange(get("/v1/sessions/a?fail=html502"))
        let error = assertEnvelope(response, status: 502, code: "bad_gateway", retryAfter: true)
        XCTAssertEqual((error.details["upstream_status"] as? NSNumber)?.intValue, 502)
        XCTAssertEqual(response.header("Retry-After"), "7", "retry_after_default when the upstream gave none")
        XCTAssertFalse(response.text.contains("<html"), "the HTML page must be dropped: \(response.text)")
        XCTAssertFalse(response.text.contains("nginx"), "the HTML page must be dropped: \(response.text)")
        try assertGatewayStillServes()
    }

    // Failures noticed in an upstream event (an asynchronous connection refusal) or by a timer (the
    // response timeout) are answered at once: the client sends nothing more and still gets its envelope.

    func testRefusedConnectionIs503WithRetryAfter() throws {
        let c = try client(timeout: 2)
        let response = try c.exchange(get("/dead/anything"))
        let error = assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "7", "retry_after_default")
        XCTAssertEqual(error["message"] as? String, "Could not connect to any server of upstream nowhere")
        // The group's only server is never ejected (max_fails counts only with two or more servers): the next
        // request, on the same connection (no request body was pending, so it stayed usable), tries it again.
        let again = try c.exchange(get("/dead/again"))
        let againError = assertEnvelope(again, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertEqual(againError["message"] as? String, "Could not connect to any server of upstream nowhere",
                       "a second connection attempt, not 'all are ejected'")
        XCTAssertNotEqual(again.header("X-Request-Id"), response.header("X-Request-Id"))
        try assertGatewayStillServes()
        XCTAssertFalse(deployment.gateway!.output.contains("ejected"), "the only server must not be ejected:\n\(deployment.gateway!.output)")
    }

    func testRefusedConnectionWithARequestBodyIs503() throws {
        let response = try client(timeout: 2).exchange(post("/dead/upload", body: #"{"to":"+15550100"}"#))
        assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true)
        try assertGatewayStillServes()
    }

    func testSlowUpstreamIs504UpstreamTimeoutForGET() throws {
        let started = Date()
        let response = try client(timeout: 1.5).exchange(get("/v1/sessions/a?delay_ms=2000"))
        let elapsed = Date().timeIntervalSince(started)
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "7")
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "response_timeout is 300ms")
        XCTAssertLessThan(elapsed, 1.2, "response_timeout is 300ms, the mock waits 2 s")
        try assertGatewayStillServes()
    }

    func testStalledUpstreamIs504ForGET() throws {
        let response = try client(timeout: 1.5).exchange(get("/v1/sessions/a?fail=stall"))
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        try assertGatewayStillServes()
    }

    func testStalledUpstreamIs504WithoutRetryAfterForPOST() throws {
        // upstream_timeout is "retry (idempotent requests only)": a POST may already have taken effect.
        let response = try client(timeout: 1.5).exchange(post("/v1/messages/text?fail=stall", body: #"{"to":"+15550100","text":"hi"}"#))
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: false)
        try assertGatewayStillServes()
    }

    func testUpstreamClosingBeforeAnswerIs502() throws {
        let response = try client().exchange(get("/v1/sessions/a?fail=close"))
        let error = assertEnvelope(response, status: 502, code: "bad_gateway", retryAfter: true)
        XCTAssertNil(error.details["upstream_status"], "no upstream status was ever received")
        try assertGatewayStillServes()
    }

    func testUpstreamResetBeforeAnswerIs502() throws {
        let response = try client().exchange(get("/v1/sessions/a?fail=reset"))
        assertEnvelope(response, status: 502, code: "bad_gateway", retryAfter: true)
        try assertGatewayStillServes()
    }

    func testUpstreamClosingAfterTheResponseStartedClosesTheClientConnection() throws {
        let c = try client(timeout: 2)
        try c.send(get("/v1/download?fail=half", headers: "X-Request-Id: half-open-1\r\n"))
        let (bytes, closed) = c.readUntilClose()
        XCTAssertTrue(closed, "the gateway must close the connection, not leave the client waiting for 990 bytes")
        let text = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200 "), "the upstream's head was already forwarded: \(text)")
        guard let split = text.range(of: "\r\n\r\n") else { return XCTFail("no complete head: \(text)") }
        let head = text[..<split.lowerBound].lowercased()
        let body = text[split.upperBound...]
        XCTAssertTrue(head.contains("content-length: 1000"), String(head))
        XCTAssertEqual(body, "0123456789", "only the bytes the upstream sent, no envelope appended")
        XCTAssertFalse(text.contains("\"success\":false"), "no envelope is possible once the response started")
        // The failure is logged with the request id.
        XCTAssertNoThrow(try deployment.gateway!.waitForOutput("half-open-1", timeout: 3))
        try assertGatewayStillServes()
    }

    // The upstream's last bytes and its FIN often arrive together (one short read, then EOF behind it):
    // the EOF must still be seen at once, on the plain upstream whose 30 s response_timeout would
    // otherwise end the wait. Racy, hence several attempts, each bounded to 1 s.

    func testCloseDelimitedUpstreamResponseEndsWhenTheUpstreamCloses() throws {
        for attempt in 1...10 {
            let c = try client(timeout: 1)
            let response: WireResponse
            do {
                response = try c.exchange(get("/v1/bytes/2000?close=1"))
            } catch {
                return XCTFail("attempt \(attempt): the response never ended: \(error)")
            }
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body.count, 2000, "attempt \(attempt)")
        }
    }

    func testUpstreamClosingMidBodyClosesTheClientPromptly() throws {
        for attempt in 1...10 {
            let c = try client(timeout: 1)
            try c.send(get("/v1/bytes/1000?fail=half"))
            let started = Date()
            let (bytes, closed) = c.readUntilClose()
            XCTAssertTrue(closed, "attempt \(attempt): still open \(Date().timeIntervalSince(started)) s after the upstream closed")
            XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasSuffix("\r\n\r\n0123456789"), "attempt \(attempt)")
            if !closed { return }
        }
    }

    func testEveryFailureInARowLeavesTheGatewayServing() throws {
        for fault in ["html502", "close", "reset", "text", "status", "truncated_json"] {
            let c = try client(timeout: 3)
            try c.send(get("/v1/sessions/x?fail=\(fault)&status=500", headers: "Connection: close\r\n"))
            XCTAssertTrue(c.readUntilClose().closed, fault)
        }
        for request in [get("/v1/sessions/x?fail=stall"), get("/dead/x")] {
            let c = try client(timeout: 3)
            XCTAssertGreaterThanOrEqual(try c.exchange(request).status, 500)
        }
        // Several fresh connections in a row, so more than one worker is exercised.
        for _ in 0..<6 { try assertGatewayStillServes() }
    }
}
