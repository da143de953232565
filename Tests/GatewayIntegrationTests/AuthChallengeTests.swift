import Foundation
import XCTest

/// `WWW-Authenticate` on every 401 (RFC 9110 §15.5.2), `error="invalid_token"` for a refused key
/// (RFC 6750 §3.1), the realm from `auth_realm`; rewritten and replayed upstream 401s included.
final class AuthChallengeTests: XCTestCase {
    private var deployment: Deployment!

    override func setUpWithError() throws {
        deployment = Deployment()
        let mock = try deployment.startMock()
        try deployment.startGateway("""
        auth_realm "Messaging API";
        plan p { }
        key plain:good { plan p; }
        key plain:old { plan p; expires 2020-01-01T00:00:00Z; }
        upstream messaging { server 127.0.0.1:\(mock); }
        route /v1/ { upstream messaging; auth required; }
        route /v1/open/ { upstream messaging; auth public; }
        """)
    }

    override func tearDown() { deployment.stop() }

    func testEvery401CarriesTheChallenge() throws {
        let c = try RawClient(port: deployment.gatewayPort)
        let realm = #"Bearer realm="Messaging API""#
        let invalid = realm + #", error="invalid_token""#
        let rows: [(String, String, String, String)] = [
            ("no key", get("/v1/sessions/a"), "missing_api_key", realm),
            ("unknown key", get("/v1/sessions/a", headers: "Authorization: Bearer nope\r\n"), "invalid_api_key", invalid),
            ("expired key", get("/v1/sessions/a", headers: "X-API-Key: old\r\n"), "expired_api_key", invalid),
            // The upstream refused and sent no challenge of its own: ours, without an error code.
            ("upstream 401", get("/v1/open/x?fail=status&status=401"), "invalid_api_key", realm),
        ]
        for (name, request, code, challenge) in rows {
            let response = try c.exchange(request)
            assertEnvelope(response, status: 401, code: code, retryAfter: false, name)
            XCTAssertEqual(response.headers("WWW-Authenticate"), [challenge], name)
        }
        let ok = try c.exchange(get("/v1/sessions/a", headers: "X-API-Key: good\r\n"))
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual(ok.headers("WWW-Authenticate"), [])
    }

    func testAReplayedUpstream401KeepsTheChallenge() throws {
        let c = try RawClient(port: deployment.gatewayPort)
        let request = post("/v1/messages/text?fail=status&status=401", body: "{}",
                           headers: "X-API-Key: good\r\nIdempotency-Key: challenge-1\r\nContent-Type: application/json\r\n")
        let first = try c.exchange(request)
        let replay = try c.exchange(request)
        XCTAssertEqual(replay.header("Idempotent-Replayed"), "true", replay.text)
        for response in [first, replay] {
            XCTAssertEqual(response.status, 401, response.text)
            XCTAssertEqual(response.headers("WWW-Authenticate"), [#"Bearer realm="Messaging API""#])
        }
    }
}
