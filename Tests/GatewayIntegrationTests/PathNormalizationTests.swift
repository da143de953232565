import Foundation
import XCTest

/// Routes, scopes and the idempotency fingerprint are decided on the normalised path, and the
/// normalised path (with the query as sent) is what the upstream receives (issue 9 §1).
final class PathNormalizationTests: XCTestCase {
    var deployment: Deployment!
    var mock: UInt16 = 0

    override func setUpWithError() throws {
        deployment = Deployment()
        mock = try deployment.startMock()
        try deployment.startGateway("""
        plan roomy { rate 1000/s burst 1000; }
        key plain:k-user { plan roomy; scopes messages:write; }
        key plain:k-admin { plan roomy; scopes admin; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/admin/ { upstream messaging; auth required; scope admin; }
        route /v1/ { upstream messaging; auth required; }
        route /healthz { upstream messaging; auth public; }
        """)
    }

    override func tearDown() { deployment.stop() }

    func request(_ target: String, key: String? = "k-user") throws -> WireResponse {
        let auth = key.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return try RawClient(port: deployment.gatewayPort, timeout: 5).exchange(get(target, headers: auth))
    }

    static let traversals = ["/v1/x/../admin/a", "/v1/x/%2e%2e/admin/a", "/v1/x/.%2e/admin/a", "/v1/%61dmin/a",
                             "/v1//admin/a", "/v1/./admin/a"]

    func testTraversalsToTheAdminRouteNeedTheAdminScope() throws {
        try resetMock(port: mock)
        for target in Self.traversals {
            let response = try request(target)
            let error = assertEnvelope(response, status: 403, code: "insufficient_permissions", retryAfter: false, target)
            XCTAssertEqual((error["details"] as? [String: Any])?["scope"] as? String, "admin", target)
        }
        XCTAssertEqual(try mockStats(port: mock).requests, 0, "nothing reached the upstream unauthorised")
        // With the scope, each reaches the admin route as the path that was authorised.
        for target in Self.traversals {
            let response = try request(target, key: "k-admin")
            XCTAssertEqual(response.status, 200, "\(target): \(response.text)")
            XCTAssertEqual((response.json["data"] as? [String: Any])?["path"] as? String, "/v1/admin/a", target)
        }
        XCTAssertEqual(try mockStats(port: mock).paths, ["GET /v1/admin/a": Self.traversals.count])
    }

    func testAbsoluteFormTargetsAreNormalisedAndRoutedTheSameWay() throws {
        try resetMock(port: mock)
        for target in ["http://gw.example/v1/x/../admin/a", "HTTP://gw.example:8080/v1/%61dmin/a", "https://gw.example/v1//admin/a"] {
            let response = try RawClient(port: deployment.gatewayPort, timeout: 5)
                .exchange("GET \(target) HTTP/1.1\r\nHost: gw.example\r\nAuthorization: Bearer k-user\r\n\r\n")
            assertEnvelope(response, status: 403, code: "insufficient_permissions", retryAfter: false, target)
        }
        XCTAssertEqual(try mockStats(port: mock).requests, 0)
    }

    func testEncodedSlashesAndOtherUnsafePathsAre400AndClose() throws {
        try resetMock(port: mock)
        for target in ["/v1/admin%2Fa", "/v1/x/..%2fadmin/a", "/v1/admin%5ca", "/v1/a%00", "/v1/a%zz", "/v1/..;/admin/a",
                       "/v1/../../admin/a", "/v1\\admin\\a"] {
            let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
            let response = try client.exchange(get(target, headers: "Authorization: Bearer k-admin\r\n"))
            assertEnvelope(response, status: 400, code: "invalid_request", retryAfter: false, target)
            XCTAssertEqual(response.header("Connection")?.lowercased(), "close", target)
            XCTAssertTrue(client.readUntilClose().closed, target)
        }
        XCTAssertEqual(try mockStats(port: mock).requests, 0)
    }

    func testPublicPrefixTraversalStillNeedsAKey() throws {
        try resetMock(port: mock)
        for target in ["/healthz/../v1/sessions/demo", "/healthz/%2e%2e/v1/sessions/demo", "/healthz/..//v1/sessions/demo"] {
            assertEnvelope(try request(target, key: nil), status: 401, code: "missing_api_key", retryAfter: false, target)
        }
        XCTAssertEqual(try mockStats(port: mock).requests, 0)
        let keyed = try request("/healthz/../v1/sessions/demo")
        XCTAssertEqual(keyed.status, 200, keyed.text)
        XCTAssertEqual(try mockStats(port: mock).paths, ["GET /v1/sessions/demo": 1])
    }

    func testUpstreamReceivesTheNormalisedPathAndTheQueryAsSent() throws {
        let cases: [(String, String)] = [
            ("/v1/x/..//%65cho?q=%2e%2e/../a//b&r=%61", "/v1/echo?q=%2e%2e/../a//b&r=%61"),
            ("/v1/./echo?", "/v1/echo?"),
            ("//v1//echo", "/v1/echo"),
            ("/v1/%65%63%68%6F?%65", "/v1/echo?%65"),
        ]
        let client = try RawClient(port: deployment.gatewayPort, timeout: 5)
        for (sent, received) in cases {
            let response = try client.exchange(get(sent, headers: "Authorization: Bearer k-user\r\n"))
            XCTAssertEqual(response.status, 200, "\(sent): \(response.text)")
            XCTAssertEqual(response.json["target"] as? String, received, sent)
        }
        // Escapes of reserved characters stay encoded, in upper case (the mock's generic answer names the path).
        let generic = try client.exchange(get("/v1/a%3a%7e/", headers: "Authorization: Bearer k-user\r\n"))
        XCTAssertEqual((generic.json["data"] as? [String: Any])?["path"] as? String, "/v1/a%3A~/")
    }

    func testIdempotencyFingerprintUsesTheNormalisedPath() throws {
        try resetMock(port: mock)
        let body = #"{"to":"+1555","text":"hi"}"#
        let headers = "Authorization: Bearer k-user\r\nIdempotency-Key: norm-1\r\n"
        let first = try RawClient(port: deployment.gatewayPort).exchange(post("/v1/messages/text", body: body, headers: headers))
        XCTAssertEqual(first.status, 201, first.text)
        let retry = try RawClient(port: deployment.gatewayPort).exchange(post("/v1//messages/./%74ext", body: body, headers: headers))
        XCTAssertEqual(retry.status, 201, retry.text)
        XCTAssertEqual(retry.header("Idempotent-Replayed"), "true", "the same request, spelled differently, is a replay")
        XCTAssertEqual(try mockStats(port: mock).paths, ["POST /v1/messages/text": 1])
    }
}
