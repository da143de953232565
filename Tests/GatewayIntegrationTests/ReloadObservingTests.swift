import Foundation
import XCTest

/// What the admin endpoints, the access log and shared upstream health show across a reload and
/// a drain: metrics carry on and count reloads, /readyz turns 503 while draining, a drained exit
/// writes the last log lines, and a server out of rotation stays out when the configuration changes.
final class ReloadObservingTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
    }

    override func tearDown() { deployment.stop() }

    private func routes(_ prefixes: [String], upstreamExtra: String = "") -> String {
        "upstream messaging { server 127.0.0.1:\(mock); \(upstreamExtra) }\n"
            + prefixes.map { "route \($0) { upstream messaging; }\n" }.joined()
    }

    func testMetricsCarryOnAcrossReloadsAndCountThem() throws {
        let adminPort = freePort()
        let admin = "admin_listen 127.0.0.1:\(adminPort);"
        try deployment.startGateway(routes(["/v1/"]), extra: admin)
        let keptAlive = try RawClient(port: deployment.gatewayPort)
        for _ in 0..<3 { XCTAssertEqual(try keptAlive.exchange(get("/v1/sessions/a")).status, 200) }

        try deployment.writeConfig(routes(["/v1/sessions/", "/v1/"]), extra: admin)
        XCTAssertTrue(try deployment.reload().contains("(generation 2)"))
        try deployment.writeConfig(routes(["/v1/sessions/", "/v1/"]) + "route /v3/ { upstream nowhere; }", extra: admin)
        XCTAssertTrue(try deployment.reload().contains("reload failed"))
        XCTAssertEqual(try keptAlive.exchange(get("/v1/echo")).status, 200)
        XCTAssertEqual(try keptAlive.exchange(get("/v1/sessions/a")).status, 200)

        // The loop settles an exchange's counters just after its last bytes went out.
        var scrape = try Scrape.take(adminPort: adminPort)
        _ = try eventually(timeout: 3) {
            scrape = try Scrape.take(adminPort: adminPort)
            return scrape["gateway_exchanges_in_flight"] == 0
        }
        XCTAssertEqual(scrape["gateway_config_generation"], 2)
        XCTAssertEqual(scrape["gateway_config_reloads_total{result=\"success\"}"], 1)
        XCTAssertEqual(scrape["gateway_config_reloads_total{result=\"failure\"}"], 1)
        XCTAssertEqual(scrape["gateway_requests_total{method=\"GET\",route=\"/v1/\",status_class=\"2xx\"}"], 4,
                       "the three requests counted under the first configuration are still there")
        XCTAssertEqual(scrape["gateway_requests_total{method=\"GET\",route=\"/v1/sessions/\",status_class=\"2xx\"}"], 1)
        XCTAssertEqual(scrape["gateway_client_connections_open"], 1, "opened under one configuration, open under the next")
        XCTAssertEqual(scrape["gateway_exchanges_in_flight"], 0)
    }

    func testReadyzSays503WhileDrainingAndTheLastLogLinesAreWritten() throws {
        let adminPort = freePort()
        let log = NSTemporaryDirectory() + "drain-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        try deployment.startGateway(routes(["/v1/"]), extra: "admin_listen 127.0.0.1:\(adminPort);\naccess_log \(log);")
        let gateway = try XCTUnwrap(deployment.gateway)
        XCTAssertEqual(try RawClient(port: adminPort).exchange(get("/readyz")).status, 200)
        let port = deployment.gatewayPort
        let slow = DispatchQueue.global()
        let answered = DispatchSemaphore(value: 0)
        slow.async {
            _ = try? RawClient(port: port).exchange(get("/v1/sessions/last?delay_ms=1000"))
            answered.signal()
        }
        let deadline = Date().addingTimeInterval(5)
        while (try mockStats(port: mock).paths["GET /v1/sessions/last"] ?? 0) == 0 && Date() < deadline { usleep(10_000) }

        XCTAssertEqual(kill(gateway.pid, SIGTERM), 0)
        try gateway.waitForOutput("SIGTERM: draining")
        let readyz = try RawClient(port: adminPort).exchange(get("/readyz"))
        XCTAssertEqual(readyz.status, 503)
        XCTAssertEqual(readyz.json["problems"] as? [String], ["draining"])
        XCTAssertEqual(gateway.waitForExit(timeout: 5), 0, gateway.output)
        XCTAssertEqual(answered.wait(timeout: .now() + 5), .success)

        // The request ended moments before the exit: its line was still in the loop's buffer.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let last = try XCTUnwrap(lines.last.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        XCTAssertEqual(last["path"] as? String, "/v1/sessions/last")
        XCTAssertEqual(last["status"] as? Int, 200)
    }

    func testAServerFailingItsChecksStaysOutOfRotationAcrossAReload() throws {
        // Two failures 400 ms apart take it out: a fresh health object would be in rotation meanwhile.
        let checks = "health_check interval=400ms timeout=200ms fails=2 passes=1;"
        try deployment.startGateway(routes(["/v1/"], upstreamExtra: checks), workers: 1)
        try setMockHealth(port: mock, status: 503)
        try deployment.gateway!.waitForOutput("is failing its health checks", timeout: 5)
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/a")).status, 503)

        try deployment.writeConfig(routes(["/v1/sessions/", "/v1/"], upstreamExtra: checks), workers: 1)
        try deployment.reload()
        let refused = try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/a"))
        XCTAssertEqual(refused.status, 503, "still out: its health is the same object under the new configuration")
        XCTAssertEqual(refused.errorObject["code"] as? String, "service_unavailable")

        try setMockHealth(port: mock, status: 200)
        try deployment.gateway!.waitForOutput("passes its health checks again", timeout: 5)
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/sessions/a")).status, 200,
                       "the new configuration's checks brought it back")
    }
}
