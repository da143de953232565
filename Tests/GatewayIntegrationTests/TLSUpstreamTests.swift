import Foundation
import XCTest

/// TLS to upstreams: a Python TLS server (`tls_upstream.py`) with certificates from the test CA
/// behind the real gateway. Servers are verified; a failure is a 502 whose details say why.
final class TLSUpstreamTests: XCTestCase {
    var deployment: Deployment!
    var fixtures: TLSFixtures!
    var upstreams: [TLSUpstream] = []

    override func setUpWithError() throws {
        fixtures = try TLSFixtures.shared()
        deployment = Deployment()
    }

    override func tearDown() {
        deployment.stop()
        upstreams.forEach { $0.stop() }
    }

    func upstream(_ certificate: (chain: String, key: String), clientCA: String? = nil) throws -> UInt16 {
        let server = try TLSUpstream(chain: certificate.chain, key: certificate.key, clientCA: clientCA)
        upstreams.append(server)
        return server.port
    }

    /// One route per upstream block: /NAME/ goes to `upstream NAME`.
    func start(_ blocks: [String: String]) throws {
        let text = blocks.map { name, body in "upstream \(name) { \(body) }\nroute /\(name)/ { upstream \(name); }" }
        try deployment.startGateway(text.joined(separator: "\n"), workers: 1)
    }

    func get(_ path: String, on client: RawClient? = nil) throws -> WireResponse {
        try (client ?? RawClient(port: deployment.gatewayPort)).exchange(GatewayIntegrationTests.get(path))
    }

    func testAVerifiedServerIsProxiedWithSNIAndItsConnectionsArePooled() throws {
        let port = try upstream(fixtures.a)
        try start([
            "named": "server 127.0.0.1:\(port) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test;",
            // Without tls_server_name the server's host is what is verified: here an IP address
            // (in the certificate's subjectAltName), and no SNI is sent.
            "byip": "server 127.0.0.1:\(port); tls on; tls_trusted_certificate \(fixtures.ca);",
        ])
        let client = try RawClient(port: deployment.gatewayPort)
        var served: [Int] = []
        for _ in 0..<3 {
            let response = try get("/named/x", on: client)
            XCTAssertEqual(response.status, 200, response.text)
            XCTAssertEqual(response.json["sni"] as? String, "a.test")
            XCTAssertEqual(response.json["forwarded_proto"] as? String, "http")
            served.append(response.json["requests_on_connection"] as? Int ?? 0)
        }
        XCTAssertEqual(served, [1, 2, 3], "one pooled TLS connection serves every request")
        let post = try client.exchange(GatewayIntegrationTests.post("/named/p", body: String(repeating: "x", count: 100_000)))
        XCTAssertEqual(post.json["body_length"] as? Int, 100_000)
        let byIP = try get("/byip/x")
        XCTAssertEqual(byIP.status, 200, byIP.text)
        XCTAssertTrue(byIP.json["sni"] is NSNull, "\(byIP.json)")
    }

    func testAServerOutsideTheTrustedCAsIs502WithTheReason() throws {
        let foreign = try upstream(fixtures.foreign)
        let good = try upstream(fixtures.a)
        try start([
            "foreign": "server 127.0.0.1:\(foreign) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test;",
            "wrongname": "server 127.0.0.1:\(good) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name b.test;",
            "plaintext": "server 127.0.0.1:\(try deployment.startMock()) tls; tls_trusted_certificate \(fixtures.ca);",
        ])
        let cases = [("/foreign/x", "certificate verify failed: unable to get local issuer certificate"),
                     ("/wrongname/x", "certificate verify failed: hostname mismatch"),
                     ("/plaintext/x", "wrong version number")]
        for (path, reason) in cases {
            let response = try get(path)
            XCTAssertEqual(response.status, 502, path)
            XCTAssertEqual(response.errorObject["code"] as? String, "bad_gateway", path)
            let details = response.errorObject["details"] as? [String: Any] ?? [:]
            XCTAssertTrue((details["reason"] as? String ?? "").contains(reason), "\(path): \(response.text)")
        }
        let log = deployment.gateway?.output ?? ""
        XCTAssertTrue(log.contains("upstream foreign server 127.0.0.1:\(foreign): TLS handshake failed: certificate verify failed"), log)
    }

    func testHealthChecksOfATLSServerGoOverVerifiedTLS() throws {
        let good = try upstream(fixtures.a)
        let foreign = try upstream(fixtures.foreign)
        let check = "health_check interval=100ms timeout=100ms fails=1 passes=1;"
        try start([
            "checked": "server 127.0.0.1:\(good) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test; \(check)",
            "untrusted": "server 127.0.0.1:\(foreign) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test; \(check)",
        ])
        let gateway = try XCTUnwrap(deployment.gateway)
        try gateway.waitForOutput("upstream untrusted server 127.0.0.1:\(foreign) is failing its health checks: 1 in a row "
                                  + "(last: TLS handshake: certificate verify failed: unable to get local issuer certificate)", timeout: 5)
        XCTAssertEqual(try get("/untrusted/x").status, 503, "out of rotation: no request tries it")
        // The good server has been checked several times by now, over TLS, and never failed.
        usleep(300_000)
        XCTAssertFalse(gateway.output.contains("upstream checked server"), gateway.output)
        XCTAssertEqual(try get("/checked/x").status, 200)
    }

    func testMutualTLS() throws {
        let port = try upstream(fixtures.a, clientCA: fixtures.ca)
        try start([
            "mtls": "server 127.0.0.1:\(port) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test; "
                + "tls_certificate \(fixtures.client.chain); tls_certificate_key \(fixtures.client.key);",
            "anonymous": "server 127.0.0.1:\(port) tls; tls_trusted_certificate \(fixtures.ca); tls_server_name a.test;",
        ])
        let accepted = try get("/mtls/x")
        XCTAssertEqual(accepted.status, 200, accepted.text)
        XCTAssertEqual(accepted.json["client_cn"] as? String, "gateway-client")
        // Refused by the server for want of a client certificate: its alert is the reason.
        let refused = try get("/anonymous/x")
        XCTAssertEqual(refused.status, 502)
        let details = refused.errorObject["details"] as? [String: Any] ?? [:]
        XCTAssertTrue((details["reason"] as? String ?? "").contains("certificate required"), refused.text)
    }
}
