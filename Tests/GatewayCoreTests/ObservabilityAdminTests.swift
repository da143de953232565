import Foundation
import XCTest
@testable import GatewayCore

/// What the admin listener answers, decided without sockets.
final class ObservabilityAdminTests: XCTestCase {
    private let registry = MetricsRegistry()
    private let status = GatewayStatus(startedAtWallMillis: 0)
    private let health = UpstreamHealthTable(groups: [UpstreamHealth(config: UpstreamConfig(name: "u", servers: [
        UpstreamServer(host: "127.0.0.1", port: 1), UpstreamServer(host: "127.0.0.1", port: 2)]))])
    private lazy var admin = AdminEndpoints(registry: registry, status: status, health: health,
                                            idempotency: IdempotencyStore(limits: IdempotencyLimits()), accessLog: nil,
                                            vocabulary: .snake)

    private func get(_ path: String, _ method: HTTPMethod = .get) -> AdminResponse {
        admin.respond(method: method, path: path, requestID: "01TESTID", nowMillis: 1_000)
    }

    private func json(_ response: AdminResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }

    func testHealthzAnswersWhileTheProcessRuns() {
        let response = get("/healthz")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(json(response)["status"] as? String, "alive")
    }

    func testReadyzFollowsTheGatewaysState() {
        XCTAssertEqual(get("/readyz").status, 503)
        XCTAssertEqual(json(get("/readyz"))["problems"] as? [String], ["not listening yet", "no configuration loaded"])
        status.configLoaded()
        status.markListening()
        XCTAssertEqual(get("/readyz").status, 200)
        XCTAssertEqual(json(get("/readyz"))["config_generation"] as? Int, 1)
        for server in health.groups[0].servers { server.setFailingChecks(true) }
        XCTAssertEqual(json(get("/readyz"))["problems"] as? [String], ["upstream u has no healthy server"])
        health.groups[0].servers[1].setFailingChecks(false)
        XCTAssertEqual(get("/readyz").status, 200, "one server in rotation is enough")
        status.beginDraining()
        XCTAssertEqual(get("/readyz").status, 503)
        XCTAssertEqual(json(get("/readyz"))["problems"] as? [String], ["draining"])
    }

    func testMetricsAreServedAsPrometheusText() {
        let response = get("/metrics")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.contentType, "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(String(decoding: response.body, as: UTF8.self).contains("# TYPE gateway_idempotency_entries gauge\n"))
        XCTAssertEqual(get("/metrics", .head).status, 200)
    }

    func testOtherPathsAndMethodsGetTheEnvelope() {
        let missing = get("/metrics/extra")
        XCTAssertEqual(missing.status, 404)
        let error = json(missing)["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? String, "resource_not_found")
        XCTAssertEqual(error?["request_id"] as? String, "01TESTID")
        let post = get("/metrics", .post)
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers.first?.0, "Allow")
        XCTAssertEqual(post.headers.first?.1, "GET, HEAD")
    }
}
