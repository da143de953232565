import Foundation
import XCTest

/// Load balancing across two mock upstreams: (weighted) round-robin, retrying a refused connect
/// on the other server, passive ejection after max_fails and return after fail_timeout (never for
/// a group's only server), and keep-alive pooling of upstream connections. One worker, so one balancer state is observed.
final class BalancingTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws { deployment = Deployment() }
    override func tearDown() { deployment.stop() }

    func client(timeout: TimeInterval = 5) throws -> RawClient { try RawClient(port: deployment.gatewayPort, timeout: timeout) }

    /// `count` GETs of `path`, each checked for 200; over one keep-alive connection.
    func sendRequests(_ count: Int, path: String = "/v1/sessions/rr", file: StaticString = #filePath, line: UInt = #line) throws {
        let c = try client()
        for i in 0..<count {
            let response = try c.exchange(get(path))
            XCTAssertEqual(response.status, 200, "request \(i): \(response.text)", file: file, line: line)
        }
    }

    func served(_ port: UInt16, path: String = "/v1/sessions/rr") throws -> Int {
        try mockStats(port: port).paths["GET \(path)"] ?? 0
    }

    func testRoundRobinSpreadsRequestsEvenly() throws {
        let a = try deployment.startMock(), b = try deployment.startMock()
        try deployment.startGateway(servers: [a, b], workers: 1)
        try sendRequests(40)
        let (na, nb) = (try served(a), try served(b))
        XCTAssertEqual(na + nb, 40)
        XCTAssertEqual(Double(na), 20, accuracy: 2, "a=\(na) b=\(nb)")
        XCTAssertEqual(Double(nb), 20, accuracy: 2, "a=\(na) b=\(nb)")
    }

    func testRoundRobinAlsoAlternatesAcrossFreshClientConnections() throws {
        let a = try deployment.startMock(), b = try deployment.startMock()
        try deployment.startGateway(servers: [a, b], workers: 1)
        for _ in 0..<20 {
            XCTAssertEqual(try client().exchange(get("/v1/sessions/rr", headers: "Connection: close\r\n")).status, 200)
        }
        let (na, nb) = (try served(a), try served(b))
        XCTAssertEqual(na + nb, 20)
        XCTAssertEqual(Double(na), 10, accuracy: 2, "a=\(na) b=\(nb)")
    }

    func testWeightedRoundRobinFollowsTheWeights() throws {
        let a = try deployment.startMock(), b = try deployment.startMock()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(a) weight=3; server 127.0.0.1:\(b); }
        route /v1/ { upstream messaging; }
        """, workers: 1)
        try sendRequests(40)
        let (na, nb) = (try served(a), try served(b))
        XCTAssertEqual(na + nb, 40)
        XCTAssertEqual(Double(na), 30, accuracy: 2, "weight 3 vs 1: a=\(na) b=\(nb)")
        XCTAssertEqual(Double(nb), 10, accuracy: 2, "weight 3 vs 1: a=\(na) b=\(nb)")
    }

    func testDeadServerIsRetriedOnTheOtherAndEjectedAfterMaxFails() throws {
        let live = try deployment.startMock()
        let dead = freePort()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(live); server 127.0.0.1:\(dead) max_fails=2 fail_timeout=30s; }
        route /v1/ { upstream messaging; }
        """, workers: 1)
        // Every request succeeds: a refused connect is retried on the live server.
        try sendRequests(20)
        XCTAssertEqual(try served(live), 20)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(dead) ejected", timeout: 3)
        let output = deployment.gateway!.output
        let ejections = output.components(separatedBy: "server 127.0.0.1:\(dead) ejected").count - 1
        XCTAssertEqual(ejections, 1, "with fail_timeout=30s it is ejected once and then left alone:\n\(output)")
        let refusals = output.components(separatedBy: "server 127.0.0.1:\(dead): ").count - 1
        XCTAssertEqual(refusals, 2, "max_fails=2: exactly two connection attempts before ejection:\n\(output)")
        XCTAssertFalse(output.contains("server 127.0.0.1:\(live) ejected"))
    }

    func testAllServersDeadIs503AndThenImmediatelyOnceBothAreEjected() throws {
        let dead1 = freePort(), dead2 = freePort()
        try deployment.startGateway(servers: [dead1, dead2], workers: 1)
        let c = try client(timeout: 2)
        // Both refusals arrive asynchronously; the 503 goes out without the client sending anything more.
        let first = try c.exchange(get("/v1/sessions/a"))
        let error = assertEnvelope(first, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertEqual(first.header("Retry-After"), "5", "retry_after_default 5s")
        XCTAssertEqual(error["message"] as? String, "Could not connect to any server of upstream messaging")
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(dead1) ejected", timeout: 3)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(dead2) ejected", timeout: 3)
        // Both ejected: answered without touching the network, on the same connection.
        let started = Date()
        let second = try c.exchange(get("/v1/sessions/b"))
        let secondError = assertEnvelope(second, status: 503, code: "service_unavailable", retryAfter: true)
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5)
        XCTAssertEqual(secondError["message"] as? String,
                       "No healthy upstream server for messaging: all are ejected after failures")
    }

    func testAGroupsOnlyServerIsNeverEjected() throws {
        // As in nginx: max_fails applies only when there is another server to turn to.
        let only = freePort()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(only) max_fails=1 fail_timeout=30s; }
        route /v1/ { upstream messaging; }
        """, workers: 1)
        let c = try client(timeout: 2)
        for i in 0..<4 {
            let response = try c.exchange(get("/v1/sessions/rr"))
            let error = assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true, "request \(i)")
            XCTAssertEqual(error["message"] as? String, "Could not connect to any server of upstream messaging",
                           "request \(i) tried the server again")
        }
        // The log reaches the test through a pipe: wait for the lines, never for a fixed time.
        func refusalsLogged() -> Int { deployment.gateway!.output.components(separatedBy: "server 127.0.0.1:\(only): ").count - 1 }
        _ = eventually(timeout: 3) { refusalsLogged() >= 4 }
        let output = deployment.gateway!.output
        XCTAssertFalse(output.contains("ejected"), "the only server must not be ejected:\n\(output)")
        let refusals = refusalsLogged()
        XCTAssertEqual(refusals, 4, "one connection attempt per request:\n\(output)")
        // Back up, it is used at once (an ejection would have kept it out for 30 s).
        try deployment.startMock(port: only)
        XCTAssertEqual(try c.exchange(get("/v1/sessions/rr")).status, 200)
        XCTAssertEqual(try served(only), 1)
    }

    func testEjectedServerIsUsedAgainAfterFailTimeout() throws {
        let live = try deployment.startMock()
        let revived = freePort()
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(live); server 127.0.0.1:\(revived) max_fails=1 fail_timeout=1s; }
        route /v1/ { upstream messaging; }
        """, workers: 1)
        let c = try client()
        // Up to two requests reach the dead server's turn; its refusal ejects it for 1 s.
        for _ in 0..<2 { XCTAssertEqual(try c.exchange(get("/v1/sessions/rr")).status, 200) }
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(revived) ejected", timeout: 3)
        let ejectedAt = Date()
        try deployment.startMock(port: revived)
        // While ejected it gets nothing, even though it is listening again.
        for _ in 0..<6 { XCTAssertEqual(try c.exchange(get("/v1/sessions/rr")).status, 200) }
        if Date().timeIntervalSince(ejectedAt) < 0.9 {
            XCTAssertEqual(try served(revived), 0, "an ejected server must not be used before fail_timeout")
        }
        // After fail_timeout it takes its share again.
        let back = try eventually(timeout: 4, interval: 50_000) {
            XCTAssertEqual(try c.exchange(get("/v1/sessions/rr")).status, 200)
            return try served(revived) > 0
        }
        XCTAssertTrue(back, "the revived server was not used again within 4 s of a 1 s fail_timeout")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(ejectedAt), 0.9, "used again too early")
        // And the rotation is even again: of the next 20 requests it gets about half.
        try resetMock(port: revived)
        try resetMock(port: live)
        for _ in 0..<20 { XCTAssertEqual(try c.exchange(get("/v1/sessions/rr")).status, 200) }
        XCTAssertEqual(Double(try served(revived)), 10, accuracy: 2)
    }

    func testKeepAlivePoolReusesUpstreamConnections() throws {
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], workers: 1)
        // Connections closed (TIME_WAIT) on the mock's port before: the port number may have been used before.
        let closedBefore = timeWaitConnections(port: mock)
        try sendRequests(30, path: "/v1/sessions/pooled")
        XCTAssertEqual(try served(mock, path: "/v1/sessions/pooled"), 30)
        // Connections the gateway holds open to the mock, and connections closed meanwhile on the mock's port
        // (the stats request above is one of them).
        XCTAssertEqual(establishedConnections(toPort: mock), 1, "one pooled upstream connection carries every request")
        XCTAssertLessThanOrEqual(timeWaitConnections(port: mock) - closedBefore, 2,
                                 "30 requests must not open and close 30 upstream connections")
    }

    func testWithoutPoolingEveryRequestUsesANewUpstreamConnection() throws {
        // The control for the test above: with `keepalive 0;` the same measurement sees the churn.
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], upstreamExtra: "keepalive 0;", workers: 1)
        try sendRequests(30, path: "/v1/sessions/unpooled")
        let closed = try XCTUnwrap(Optional(timeWaitConnections(port: mock)))
        XCTAssertGreaterThanOrEqual(closed, 25, "keepalive 0 closes the upstream connection after each request")
        XCTAssertLessThanOrEqual(establishedConnections(toPort: mock), 1)
    }
}
