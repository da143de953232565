import Foundation
import XCTest

/// The gateway's own errors (README, "Error reference"): 404, 405, 413, 414, 431, 400, 408, each as the
/// canonical envelope with the right status, code, request_id and Retry-After rule, and the
/// connection closed whenever the rest of the request could not be read.
final class ErrorEnvelopeTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        try deployment.startGateway(
            servers: [mock], routeExtra: "methods GET POST; max_body 1k;",
            extra: """
            client_header_timeout 300ms;
            client_body_timeout 300ms;
            max_request_line 1k;
            max_header_size 2k;
            """)
    }

    override func tearDown() { deployment.stop() }

    func client(timeout: TimeInterval = 5) throws -> RawClient { try RawClient(port: deployment.gatewayPort, timeout: timeout) }

    /// After a rejection the gateway still serves a fresh connection.
    func assertGatewayStillServes(file: StaticString = #filePath, line: UInt = #line) throws {
        let response = try client().exchange(get("/v1/sessions/after", headers: "Connection: close\r\n"))
        XCTAssertEqual(response.status, 200, "gateway no longer serves: \(response.text)", file: file, line: line)
    }

    // MARK: 404 / 405

    func testNoRouteIs404ResourceNotFoundAndKeepsTheConnection() throws {
        let c = try client()
        let response = try c.exchange(get("/nowhere/at/all"))
        assertEnvelope(response, status: 404, code: "resource_not_found", retryAfter: false)
        XCTAssertEqual(response.header("X-Request-Id")?.count, 26, "a minted request id")
        // No body was announced, so the connection is still good for the next request.
        let next = try c.exchange(get("/v1/sessions/a"))
        XCTAssertEqual(next.status, 200)
        XCTAssertNotEqual(next.header("X-Request-Id"), response.header("X-Request-Id"))
    }

    func testNoRouteEchoesTheClientsRequestID() throws {
        let response = try client().exchange(get("/missing", headers: "X-Request-Id: client-404-id\r\n"))
        let error = assertEnvelope(response, status: 404, code: "resource_not_found", retryAfter: false)
        XCTAssertEqual(error["request_id"] as? String, "client-404-id")
    }

    func testMethodNotAllowedIs405WithAllowHeader() throws {
        let c = try client()
        let response = try c.exchange("DELETE /v1/sessions/a HTTP/1.1\r\nHost: test\r\n\r\n")
        let error = assertEnvelope(response, status: 405, code: "method_not_allowed", retryAfter: false)
        XCTAssertEqual(response.headers("Allow"), ["GET, POST"])
        XCTAssertEqual(error.details["allowed"] as? String, "GET, POST")
        XCTAssertEqual(try c.exchange(get("/v1/sessions/a")).status, 200, "connection kept after a 405 without body")
        XCTAssertEqual(try mockStats(port: mock).paths["DELETE /v1/sessions/a"], nil, "a 405 never reaches the upstream")
    }

    // MARK: 413

    func testContentLengthOverMaxBodyIs413AndCloses() throws {
        let c = try client()
        // Only the head: the gateway must answer without waiting for the 2048 announced bytes.
        try c.send("POST /v1/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 2048\r\n\r\n")
        let response = try c.readResponse()
        let error = assertEnvelope(response, status: 413, code: "request_too_large", retryAfter: false)
        XCTAssertEqual((error.details["limit"] as? NSNumber)?.intValue, 1024)
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer(), "the unread body makes the connection unusable")
        XCTAssertEqual(try mockStats(port: mock).requests, 0, "a 413 on Content-Length never reaches the upstream")
        try assertGatewayStillServes()
    }

    func testContentLengthExactlyAtMaxBodyIsForwarded() throws {
        let body = String(repeating: "b", count: 1024)
        let response = try client().exchange(post("/v1/upload", body: body))
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual((response.json["received"] as? NSNumber)?.intValue, 1024)
    }

    func testChunkedBodyGrowingPastMaxBodyIs413AndCloses() throws {
        let c = try client()
        let chunk = String(repeating: "c", count: 400)
        let chunked = (0..<3).map { _ in "190\r\n\(chunk)\r\n" }.joined() + "0\r\n\r\n"  // 0x190 = 400; 1200 > 1024
        try c.send("POST /v1/upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        let response = try c.readResponse()
        let error = assertEnvelope(response, status: 413, code: "request_too_large", retryAfter: false)
        XCTAssertEqual((error.details["limit"] as? NSNumber)?.intValue, 1024)
        XCTAssertTrue(c.isClosedByPeer())
        try assertGatewayStillServes()
    }

    func testChunkedBodyWithinMaxBodyIsForwarded() throws {
        let chunk = String(repeating: "c", count: 500)
        let response = try client().exchange(
            "POST /v1/upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n\(chunk)\r\n1f4\r\n\(chunk)\r\n0\r\n\r\n")
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual((response.json["received"] as? NSNumber)?.intValue, 1000)
    }

    // MARK: 414, 431

    func testRequestLineOverLimitIs414AndCloses() throws {
        let c = try client()
        let response = try c.exchange(get("/v1/" + String(repeating: "a", count: 1100)))
        assertEnvelope(response, status: 414, code: "uri_too_long", retryAfter: false)
        XCTAssertTrue(c.isClosedByPeer())
        try assertGatewayStillServes()
    }

    func testHeadOverLimitIs431AndCloses() throws {
        let c = try client()
        let headers = (0..<30).map { "X-Filler-\($0): \(String(repeating: "h", count: 80))\r\n" }.joined()  // ~3 KB > 2k
        let response = try c.exchange(get("/v1/sessions/a", headers: headers))
        assertEnvelope(response, status: 431, code: "headers_too_large", retryAfter: false)
        XCTAssertTrue(c.isClosedByPeer())
        XCTAssertEqual(try mockStats(port: mock).requests, 0)
        try assertGatewayStillServes()
    }

    // MARK: 400

    func testMalformedRequestsAre400InvalidRequestAndClose() throws {
        let cases: [(String, String)] = [
            ("Content-Length with Transfer-Encoding",
             "POST /v1/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("bad chunk size",
             "POST /v1/upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
            ("obs-fold",
             "GET /v1/sessions/a HTTP/1.1\r\nHost: test\r\nX-Folded: first\r\n second\r\n\r\n"),
            ("bare LF",
             "GET /v1/sessions/a HTTP/1.1\nHost: test\n\n"),
            ("bare LF inside the headers",
             "GET /v1/sessions/a HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n"),
            ("no Host in HTTP/1.1",
             "GET /v1/sessions/a HTTP/1.1\r\nX-A: b\r\n\r\n"),
            ("space before colon",
             "GET /v1/sessions/a HTTP/1.1\r\nHost : test\r\n\r\n"),
        ]
        for (name, request) in cases {
            let c = try client()
            let response: WireResponse
            do {
                response = try c.exchange(request)
            } catch {
                XCTFail("[\(name)] no response: \(error)")
                continue
            }
            assertEnvelope(response, status: 400, code: "invalid_request", retryAfter: false, name)
            XCTAssertEqual(response.header("Connection"), "close", "[\(name)] Connection: close announced")
            XCTAssertTrue(c.isClosedByPeer(), "[\(name)] connection must be closed after a malformed request")
        }
        try assertGatewayStillServes()
    }

    func testMalformedRequestAfterAGoodOneOnTheSameConnection() throws {
        let c = try client()
        let good = try c.exchange(get("/v1/sessions/first"))
        XCTAssertEqual(good.status, 200)
        let bad = try c.exchange("GET /v1/sessions/a HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n\tb\r\n\r\n")
        assertEnvelope(bad, status: 400, code: "invalid_request", retryAfter: false)
        XCTAssertNotEqual(bad.header("X-Request-Id"), good.header("X-Request-Id"), "a fresh id for the malformed request")
        XCTAssertTrue(c.isClosedByPeer())
    }

    // MARK: 408
    //
    // The timer's 408 goes out on its own (the client sends nothing more) and carries a request id of
    // its own: a freshly minted one when the head never completed, the client's when the body is late.

    /// Sends a head that never completes (`partialHead`, then more bytes 100 ms later, still no blank line).
    private func sendIncompleteHead(_ c: RawClient, _ partialHead: String = "GET /v1/sessions/a HTTP/1.1\r\nHost: te") throws {
        try c.send(partialHead)
        usleep(100_000)
        try c.send("st\r\nX-Slow: 1\r\n")
    }

    func testHeaderTimeout408IsSentAtOnceWithAFreshRequestIDAndCloses() throws {
        let c = try client(timeout: 2)
        let started = Date()
        try sendIncompleteHead(c)
        let response = try c.readResponse()
        let elapsed = Date().timeIntervalSince(started)
        let error = assertEnvelope(response, status: 408, code: "request_timeout", retryAfter: false)
        XCTAssertEqual((error["request_id"] as? String)?.count, 26, "a minted request id: \(response.text)")
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "client_header_timeout is 300ms")
        XCTAssertLessThan(elapsed, 1.5, "client_header_timeout is 300ms")
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
        XCTAssertEqual(try mockStats(port: mock).requests, 0)
        try assertGatewayStillServes()
    }

    func testHeaderTimeout408OnAKeptAliveConnectionHasAFreshRequestID() throws {
        let c = try client(timeout: 2)
        let first = try c.exchange(get("/v1/sessions/a"))
        XCTAssertEqual(first.status, 200)
        try c.send("GET /v1/sessions/b HTTP/1.1\r\n")
        let response = try c.readResponse()
        assertEnvelope(response, status: 408, code: "request_timeout", retryAfter: false)
        XCTAssertEqual(response.header("X-Request-Id")?.count, 26, "a minted request id")
        XCTAssertNotEqual(response.header("X-Request-Id"), first.header("X-Request-Id"),
                          "the timed-out request must not reuse the previous request's id")
        XCTAssertTrue(c.isClosedByPeer())
    }

    private let slowBodyHead = "POST /v1/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nX-Request-Id: slow-body-1\r\n\r\n"

    func testBodyTimeout408IsSentAtOnceAndCloses() throws {
        let c = try client(timeout: 2)
        let started = Date()
        try c.send(slowBodyHead + String(repeating: "x", count: 50))
        let response = try c.readResponse()
        let elapsed = Date().timeIntervalSince(started)
        let error = assertEnvelope(response, status: 408, code: "request_timeout", retryAfter: false)
        XCTAssertEqual(error["request_id"] as? String, "slow-body-1")
        XCTAssertGreaterThanOrEqual(elapsed, 0.25, "client_body_timeout is 300ms")
        XCTAssertLessThan(elapsed, 1.5, "client_body_timeout is 300ms")
        XCTAssertEqual(response.header("Connection"), "close")
        XCTAssertTrue(c.isClosedByPeer())
        try assertGatewayStillServes()
    }

    func testBodyThatKeepsTricklingWithinTheTimeoutIsNotCutOff() throws {
        // client_body_timeout bounds the gap between reads, not the whole body.
        let c = try client()
        try c.send("POST /v1/upload HTTP/1.1\r\nHost: test\r\nContent-Length: 30\r\n\r\n")
        for _ in 0..<6 {
            usleep(100_000)
            try c.send("xxxxx")
        }
        let response = try c.readResponse()
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual((response.json["received"] as? NSNumber)?.intValue, 30)
    }

    func testIdleKeepAliveConnectionIsNotAnsweredWith408() throws {
        // Between requests there is no request to time out: the header timeout must not fire on an idle connection.
        let c = try client(timeout: 1)
        XCTAssertEqual(try c.exchange(get("/v1/sessions/a")).status, 200)
        usleep(500_000)  // longer than client_header_timeout, far shorter than keepalive_timeout
        XCTAssertEqual(try c.exchange(get("/v1/sessions/a")).status, 200)
    }
}
