import Foundation
import XCTest

/// `store redis://... tls`: the gateway speaks TLS to Redis and verifies it (against OpenSSL's
/// default CA store, which `SSL_CERT_FILE` points at the test CA here).
final class SharedStoreTLSTests: XCTestCase {
    private var fleet: Fleet?

    override func tearDown() { fleet?.stop() }

    private func start(certificate: (chain: String, key: String), ca: String) throws -> Fleet {
        _ = try RedisServer.binary()
        let redis = try RedisServer(tls: certificate)
        setenv("SSL_CERT_FILE", ca, 1)
        defer { unsetenv("SSL_CERT_FILE") }
        let started = try Fleet(instances: 1, redis: redis, store: " tls") { mock in
            """
            plan small { rate 1/m burst 2; }
            key plain:k-1 { plan small; }
            upstream messaging { server 127.0.0.1:\(mock); }
            route /v1/ { upstream messaging; auth required; }
            """
        }
        fleet = started
        return started
    }

    func testLimitsAndIdempotencyOverTLS() throws {
        let fixtures = try TLSFixtures.shared()
        let fleet = try start(certificate: fixtures.a, ca: fixtures.ca)
        let port = fleet.ports[0]
        let statuses = try (0..<3).map { _ in try RawClient(port: port).exchange(get("/v1/x", headers: "X-API-Key: k-1\r\n")).status }
        XCTAssertEqual(statuses, [200, 200, 429])
    }

    func testARedisWhoseCertificateDoesNotVerifyIsUnavailable() throws {
        let fixtures = try TLSFixtures.shared()
        let fleet = try start(certificate: fixtures.foreign, ca: fixtures.ca)
        let keyed = try RawClient(port: fleet.ports[0]).exchange(
            post("/v1/x", body: "{}", headers: "X-API-Key: k-1\r\nIdempotency-Key: t-1\r\n"))
        XCTAssertEqual(keyed.status, 503)
        XCTAssertTrue(eventually { fleet.gateways[0].gateway?.output.contains("certificate verify failed") ?? false },
                      fleet.gateways[0].gateway?.output ?? "")
    }
}
