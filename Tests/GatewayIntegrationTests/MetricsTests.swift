import Foundation
import XCTest

/// The admin listener (issue 12): /metrics scraped and parsed by a real Prometheus parser while
/// requests are made, /healthz and /readyz, and its 404s.
final class MetricsTests: XCTestCase {
    var deployment: Deployment!
    var adminPort: UInt16 = 0
    var mock: UInt16 = 0
    static let key = "metrics-key-\(UUID().uuidString.prefix(8))"
    static let auth = "X-API-Key: \(key)\r\n"

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        adminPort = freePort()
        try deployment.startGateway("""
        plan p { rate 1/m burst 6; }
        key sha256:\(sha256Hex(Array(Self.key.utf8))) { plan p; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; auth required; idempotency optional; }
        """, extra: "admin_listen 127.0.0.1:\(adminPort);")
    }

    override func tearDown() { deployment.stop() }

    func testCountersMoveAsRequestsAreMade() throws {
        let before = try Scrape.take(adminPort: adminPort)
        let c = try RawClient(port: deployment.gatewayPort)
        var statuses: [Int] = []
        for _ in 0..<3 { statuses.append(try c.exchange(get("/v1/sessions/a", headers: Self.auth)).status) }
        statuses.append(try c.exchange(get("/v1/sessions/a")).status)
        statuses.append(try c.exchange(get("/elsewhere")).status)
        for _ in 0..<2 {
            statuses.append(try c.exchange(post("/v1/messages/text", body: "{}", headers: Self.auth + "Idempotency-Key: m-1\r\n")).status)
        }
        for _ in 0..<2 { statuses.append(try c.exchange(get("/v1/sessions/a", headers: Self.auth)).status) }
        XCTAssertEqual(statuses, [200, 200, 200, 401, 404, 201, 201, 200, 429])
        // An exchange is counted once its last bytes are written, which the client may see first.
        var after = try Scrape.take(adminPort: adminPort)
        _ = try eventually(timeout: 3) {
            after = try Scrape.take(adminPort: adminPort)
            return after["gateway_exchanges_in_flight"] == 0
        }

        func moved(_ series: String) -> Double { (after[series] ?? 0) - (before[series] ?? 0) }
        XCTAssertEqual(moved("gateway_requests_total{method=\"GET\",route=\"/v1/\",status_class=\"2xx\"}"), 4)
        XCTAssertEqual(moved("gateway_requests_total{method=\"GET\",route=\"/v1/\",status_class=\"4xx\"}"), 2, "401 and 429")
        XCTAssertEqual(moved("gateway_requests_total{method=\"POST\",route=\"/v1/\",status_class=\"2xx\"}"), 2)
        XCTAssertEqual(moved("gateway_requests_total{method=\"GET\",route=\"none\",status_class=\"4xx\"}"), 1)
        XCTAssertEqual(moved("gateway_errors_total{code=\"missing_api_key\"}"), 1)
        XCTAssertEqual(moved("gateway_errors_total{code=\"resource_not_found\"}"), 1)
        XCTAssertEqual(moved("gateway_errors_total{code=\"rate_limit_exceeded\"}"), 1)
        XCTAssertEqual(moved("gateway_policy_rejections_total{limit=\"rate\",scope=\"key\"}"), 1)
        XCTAssertEqual(moved("gateway_idempotency_stored_total"), 1)
        XCTAssertEqual(moved("gateway_idempotency_replays_total"), 1)
        XCTAssertEqual(moved("gateway_upstream_response_seconds_count{upstream=\"messaging\"}"), 5, "4 GETs and the first POST")
        XCTAssertEqual(moved("gateway_upstream_response_seconds_bucket{le=\"+Inf\",upstream=\"messaging\"}"), 5)
        XCTAssertGreaterThan(moved("gateway_upstream_response_seconds_sum{upstream=\"messaging\"}"), 0)
        XCTAssertGreaterThan(moved("gateway_client_received_bytes_total"), 0)
        XCTAssertGreaterThan(moved("gateway_client_sent_bytes_total"), 0)
        XCTAssertEqual(after["gateway_client_connections_open"], 1, "this client (the admin port's connections are not counted)")
        let server = "server=\"127.0.0.1:\(mock)\",upstream=\"messaging\""
        XCTAssertEqual(after["gateway_upstream_pooled_connections{\(server)}"], 1)
        XCTAssertEqual(after["gateway_upstream_server_up{\(server)}"], 1)
        XCTAssertEqual(after["gateway_idempotency_entries"], 1)
        XCTAssertEqual(after["gateway_config_generation"], 1)
        XCTAssertEqual(after["gateway_exchanges_in_flight"], 0)
        XCTAssertEqual(after.types["gateway_upstream_response_seconds"], "histogram")
        XCTAssertEqual(after.types["gateway_requests"], "counter")
        XCTAssertEqual(after.types["gateway_client_connections_open"], "gauge")
    }

    func testHealthAndReadinessAndEverythingElse() throws {
        let healthz = try RawClient(port: adminPort).exchange(get("/healthz"))
        XCTAssertEqual(healthz.status, 200)
        XCTAssertEqual(healthz.json["status"] as? String, "alive")
        let readyz = try RawClient(port: adminPort).exchange(get("/readyz"))
        XCTAssertEqual(readyz.status, 200, readyz.text)
        XCTAssertEqual(readyz.json["status"] as? String, "ready")
        let other = try RawClient(port: adminPort).exchange(get("/v1/sessions/a"))
        XCTAssertEqual(other.status, 404)
        XCTAssertEqual(other.errorObject["code"] as? String, "resource_not_found")
        XCTAssertEqual(try RawClient(port: adminPort).exchange(post("/metrics", body: "")).status, 405)
        // The public listener knows nothing of the admin paths.
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/metrics")).status, 404)
    }
}

/// /readyz turns 503 when an upstream has no server in rotation.
final class ReadinessTests: XCTestCase {
    func testReadyzSays503WhenEveryServerOfAnUpstreamIsOut() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let adminPort = freePort()
        let (dead1, dead2) = (freePort(), freePort())
        try deployment.startGateway("""
        upstream messaging { server 127.0.0.1:\(dead1) max_fails=1 fail_timeout=60s; server 127.0.0.1:\(dead2) max_fails=1 fail_timeout=60s; }
        route /v1/ { upstream messaging; }
        """, workers: 1, extra: "admin_listen 127.0.0.1:\(adminPort);")
        XCTAssertEqual(try RawClient(port: adminPort).exchange(get("/readyz")).status, 200)
        XCTAssertEqual(try RawClient(port: deployment.gatewayPort).exchange(get("/v1/a")).status, 503)
        let readyz = try RawClient(port: adminPort).exchange(get("/readyz"))
        XCTAssertEqual(readyz.status, 503)
        XCTAssertEqual(readyz.json["problems"] as? [String], ["upstream messaging has no healthy server"])
        // Counted as the exchange ends, which the client may see before the gateway has.
        var scrape = try Scrape.take(adminPort: adminPort)
        _ = try eventually(timeout: 3) {
            scrape = try Scrape.take(adminPort: adminPort)
            return scrape["gateway_errors_total{code=\"service_unavailable\"}"] == 1
        }
        for port in [dead1, dead2] {
            XCTAssertEqual(scrape["gateway_upstream_server_up{server=\"127.0.0.1:\(port)\",upstream=\"messaging\"}"], 0)
            XCTAssertEqual(scrape["gateway_upstream_server_ejections_total{server=\"127.0.0.1:\(port)\",upstream=\"messaging\"}"], 1)
        }
        XCTAssertEqual(scrape["gateway_errors_total{code=\"service_unavailable\"}"], 1)
    }

    /// Active checks take the only server out: /readyz and the server's state say so, and recover.
    func testReadyzFollowsActiveHealthChecks() throws {
        let deployment = Deployment()
        defer { deployment.stop() }
        let mock = try deployment.startMock()
        let adminPort = freePort()
        try deployment.startGateway(servers: [mock], upstreamExtra: "health_check interval=100ms timeout=100ms fails=1 passes=1;",
                                    extra: "admin_listen 127.0.0.1:\(adminPort);")
        let series = "{server=\"127.0.0.1:\(mock)\",state=\"failing_checks\",upstream=\"messaging\"}"
        func ready() throws -> Int { try RawClient(port: adminPort).exchange(get("/readyz")).status }
        XCTAssertTrue(try eventually { try ready() == 200 })
        for (status, readiness, failing) in [(503, 503, 1.0), (200, 200, 0.0)] {
            try setMockHealth(port: mock, status: status)
            XCTAssertTrue(try eventually { try ready() == readiness }, "mock health \(status)")
            XCTAssertEqual(try Scrape.take(adminPort: adminPort)["gateway_upstream_server_state\(series)"], failing)
        }
    }

    func testAnAdminAddressThatIsAlsoAListenAddressIsRefused() throws {
        let port = freePort()
        let path = try temporaryConfig("""
        listen 127.0.0.1:\(port);
        admin_listen 127.0.0.1:\(port);
        upstream u { server 127.0.0.1:1; }
        route / { upstream u; }
        """)
        let run = try runGateway(["--check-config", path])
        XCTAssertEqual(run.exitStatus, 1)
        XCTAssertTrue(run.stderr.contains("'admin_listen'") && run.stderr.contains("must not be on a public listener"), run.stderr)
    }
}
