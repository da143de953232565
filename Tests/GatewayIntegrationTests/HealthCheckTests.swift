import Foundation
import XCTest

/// Active health checks against the real binaries: a mock whose /healthz is switched to failing
/// loses its traffic within about interval × fails and gets it back after passes × interval;
/// with every server down the group answers 503 at once; each server is checked by one worker.
/// Intervals of 100 ms keep every test to a second or two.
final class HealthCheckTests: XCTestCase {
    var deployment: Deployment!

    override func setUpWithError() throws { deployment = Deployment() }
    override func tearDown() { deployment.stop() }

    static let checks = "health_check interval=100ms timeout=100ms fails=3 passes=2;"

    /// `count` GETs, each on a new connection so both workers' balancers take part; all must be 200.
    func sendRequests(_ count: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        for i in 0..<count {
            let response = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/hc", headers: "Connection: close\r\n"))
            XCTAssertEqual(response.status, 200, "request \(i): \(response.text)", file: file, line: line)
        }
    }

    func served(_ port: UInt16) throws -> Int { try mockStats(port: port).paths["GET /v1/sessions/hc"] ?? 0 }

    /// Seconds until `text` appears in the gateway's log.
    func secondsUntilLogged(_ text: String, since start: Date) throws -> TimeInterval {
        try deployment.gateway!.waitForOutput(text, timeout: 5)
        return Date().timeIntervalSince(start)
    }

    func testFailingChecksTakeAServerOutOfRotationAndPassingOnesBringItBack() throws {
        let a = try deployment.startMock(), b = try deployment.startMock()
        try deployment.startGateway(servers: [a, b], upstreamExtra: Self.checks, workers: 2)
        try sendRequests(10)
        XCTAssertGreaterThan(try served(a), 0)

        let failedAt = Date()
        try setMockHealth(port: a, status: 503)
        let down = try secondsUntilLogged("server 127.0.0.1:\(a) is failing its health checks: 3 in a row (last: status 503)",
                                          since: failedAt)
        // The third failed check at the latest one interval after the switch, plus two intervals.
        XCTAssertGreaterThanOrEqual(down, 0.19, "3 failed checks, 100 ms apart")
        XCTAssertLessThan(down, 1.0, "interval × fails is 300 ms")
        try resetMock(port: a)
        try sendRequests(20)
        XCTAssertEqual(try served(a), 0, "no worker sends anything to a server failing its checks")

        let recoveredAt = Date()
        try setMockHealth(port: a, status: 200)
        let up = try secondsUntilLogged("server 127.0.0.1:\(a) passes its health checks again: 2 in a row", since: recoveredAt)
        XCTAssertGreaterThanOrEqual(up, 0.09, "2 passed checks, 100 ms apart")
        XCTAssertLessThan(up, 1.0, "passes × interval is 200 ms")
        try sendRequests(20)
        XCTAssertGreaterThanOrEqual(try served(a), 5, "back in both workers' rotation")
        XCTAssertFalse(deployment.gateway!.output.contains("127.0.0.1:\(b) is failing"), deployment.gateway!.output)
    }

    func testEveryServerDownIs503AtOnceWithRetryAfter() throws {
        // One mock whose /healthz fails, and a server that accepts and never answers (its checks time
        // out): a request to either would wait for response_timeout (5 s) without the checks.
        let mock = try deployment.startMock()
        let silent = try ScriptedUpstream { connection in
            _ = connection.readHead()
            var byte: UInt8 = 0
            while recv(connection.fd, &byte, 1, 0) > 0 {}
            connection.close()
        }
        defer { silent.stop() }
        try setMockHealth(port: mock, status: 500)
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(mock); server 127.0.0.1:\(silent.port); connect_timeout 2s; response_timeout 5s;
                             \(Self.checks) }
        route /v1/ { upstream messaging; }
        errors { retry_after_default 3s; }
        """, workers: 2)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(mock) is failing its health checks", timeout: 5)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(silent.port) is failing its health checks: 3 in a row "
                                              + "(last: no answer within 100 ms)", timeout: 5)
        try resetMock(port: mock)
        for i in 0..<6 {
            let started = Date()
            let response = try RawClient(port: deployment.gatewayPort, timeout: 2).exchange(
                get("/v1/sessions/hc", headers: "Connection: close\r\n"))
            let elapsed = Date().timeIntervalSince(started)
            let error = assertEnvelope(response, status: 503, code: "service_unavailable", retryAfter: true, "request \(i)")
            XCTAssertEqual(response.header("Retry-After"), "3", "retry_after_default")
            XCTAssertEqual(error["message"] as? String,
                           "No healthy upstream server for messaging: all are failing their health checks or ejected after failures")
            XCTAssertLessThan(elapsed, 0.2, "answered without contacting a server (connect_timeout 2 s, response_timeout 5 s)")
        }
        XCTAssertEqual(try served(mock), 0)

        // One server passing again is enough.
        try setMockHealth(port: mock, status: 200)
        try deployment.gateway!.waitForOutput("server 127.0.0.1:\(mock) passes its health checks again", timeout: 5)
        try sendRequests(4)
        XCTAssertEqual(try served(mock), 4)
    }

    func testEachServerIsCheckedByOneWorkerOnly() throws {
        let mock = try deployment.startMock()
        try deployment.startGateway(servers: [mock], upstreamExtra: "health_check interval=100ms timeout=50ms;", workers: 4)
        try resetMock(port: mock)
        let started = Date()
        usleep(1_000_000)
        let checks = try mockStats(port: mock).paths["GET /healthz"] ?? 0
        let expected = Date().timeIntervalSince(started) / 0.1
        // Four workers each checking would make about 40.
        XCTAssertGreaterThanOrEqual(Double(checks), expected - 3, "one check per interval")
        XCTAssertLessThanOrEqual(Double(checks), expected + 2, "one check per interval, not one per worker")
    }
}

/// What the mock's /healthz answers from now on.
func setMockHealth(port: UInt16, status: Int) throws {
    let response = try RawClient(port: port, timeout: 5).exchange(
        "POST /__mock/health?status=\(status) HTTP/1.1\r\nHost: mock\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    guard response.status == 200 else { throw HarnessError("mock health on \(port): status \(response.status)") }
}
