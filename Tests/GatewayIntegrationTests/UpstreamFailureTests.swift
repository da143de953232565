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
        // messaging: max_fails=0 so a timeout does not eject the only server (that is BalancingTests' subject);
        // plain: the default 30 s response_timeout, so nothing here is rescued by a timer.
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

    // Known gateway bug A (also in ErrorEnvelopeTests): when the failure is noticed in an upstream
    // event (asynchronous connection refusal) or a timer (response timeout), the envelope is queued on
    // the client connection but never flushed; the client waits until it sends another byte.
    // `testKnownBug...` assert the catalog's behaviour and fail until it is fixed; `...AfterNudge`
    // wake the connection with a CRLF so the envelope itself is still checked.

    func testKnownBugRefusedConnectionIs503WithoutFurtherClientBytes() throws {
        let response = try client(timeout: 1.5).exchange(get("/dead/anything"))
        assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "7")
    }

    func testRefusedConnectionIs503WithRetryAfterAfterNudge() throws {
        let c = try client()
        let response = try c.exchangeNudged(get("/dead/anything"), settle: 200_000)
        assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "7", "retry_after_default")
        // The refused server is now ejected (max_fails=1 by default): the next request is answered at once,
        // on the same connection (no request body was pending, so it stayed usable).
        let started = Date()
        let again = try c.exchange(get("/dead/again"))
        assertEnvelope(again, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
        XCTAssertNotEqual(again.header("X-Request-Id"), response.header("X-Request-Id"))
        XCTAssertNoThrow(try deployment.gateway!.waitForOutput("ejected", timeout: 3))
        try assertGatewayStillServes()
    }

    func testRefusedConnectionWithARequestBodyIs503AfterNudge() throws {
        let c = try client()
        let response = try c.exchangeNudged(post("/dead/upload", body: #"{"to":"+15550100"}"#), settle: 200_000)
        assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true)
        try assertGatewayStillServes()
    }

    func testKnownBugSlowUpstreamIs504WithoutFurtherClientBytes() throws {
        let started = Date()
        let response = try client(timeout: 1.5).exchange(get("/v1/sessions/a?delay_ms=2000"))
        let elapsed = Date().timeIntervalSince(started)
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "response_timeout is 300ms")
        XCTAssertLessThan(elapsed, 1.2, "response_timeout is 300ms, the mock waits 2 s")
    }

    func testSlowUpstreamIs504UpstreamTimeoutForGETAfterNudge() throws {
        let c = try client()
        // 600 ms: past the 300 ms response timeout, well before the mock's 2 s answer.
        let response = try c.exchangeNudged(get("/v1/sessions/a?delay_ms=2000"), settle: 600_000)
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        XCTAssertEqual(response.header("Retry-After"), "7")
        try assertGatewayStillServes()
    }

    func testStalledUpstreamIs504ForGETAfterNudge() throws {
        let response = try client().exchangeNudged(get("/v1/sessions/a?fail=stall"), settle: 600_000)
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: true)
        try assertGatewayStillServes()
    }

    func testKnownBugStalledUpstreamIs504ForPOSTWithoutFurtherClientBytes() throws {
        let response = try client(timeout: 1.5).exchange(post("/v1/messages/text?fail=stall", body: #"{"to":"+15550100","text":"hi"}"#))
        assertEnvelope(response, status: 504, code: "upstream_timeout", retryAfter: false)
    }

    func testStalledUpstreamIs504WithoutRetryAfterForPOSTAfterNudge() throws {
        // upstream_timeout is "retry (idempotent requests only)": a POST may already have taken effect.
        let response = try client().exchangeNudged(post("/v1/messages/text?fail=stall", body: #"{"to":"+15550100","text":"hi"}"#),
                                                   settle: 600_000)
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
        // On the messaging upstream (response_timeout 300ms), so bug C below can delay the close by 300 ms at most.
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

    // Known gateway bug C: when the upstream's last bytes and its FIN arrive together, the short read
    // marks the socket drained and the EOF is never read (edge-triggered epoll reports nothing more),
    // so a close-delimited response never ends and a response cut short is not noticed until
    // response_timeout (30 s here). Racy, hence several attempts, each bounded to 1 s.

    func testKnownBugCloseDelimitedUpstreamResponseEndsWhenTheUpstreamCloses() throws {
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

    func testKnownBugUpstreamClosingMidBodyClosesTheClientPromptly() throws {
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
            XCTAssertGreaterThanOrEqual(try c.exchangeNudged(request, settle: 600_000).status, 500)
        }
        // Several fresh connections in a row, so more than one worker is exercised.
        for _ in 0..<6 { try assertGatewayStillServes() }
    }
}
