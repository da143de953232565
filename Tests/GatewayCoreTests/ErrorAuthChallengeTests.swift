import XCTest
@testable import GatewayCore

/// Every 401 carries `WWW-Authenticate` (RFC 9110 §15.5.2), with `error="invalid_token"` only when a
/// key was presented and refused (RFC 6750 §3.1).
final class ErrorAuthChallengeTests: XCTestCase {
    private func pipeline(_ extra: String = "") throws -> RequestPipeline {
        RequestPipeline(config: try parseConfig(minimalConfig + extra + "route / { upstream u; }\nerrors { map NOPE UNAUTHORIZED 401; }\n"))
    }

    func testTheGatewaysOwn401s() throws {
        let context = RequestContext()
        for (realm, extra) in [("gateway", ""), ("Messaging API", "auth_realm \"Messaging API\";\n")] {
            let pipeline = try pipeline(extra)
            let plain = "Bearer realm=\"\(realm)\""
            let rows: [(GatewayErrorKind, String?)] = [
                (.missingApiKey, plain), (.invalidApiKey, plain + ", error=\"invalid_token\""),
                (.expiredApiKey, plain + ", error=\"invalid_token\""), (.insufficientPermissions, nil), (.rateLimitExceeded, nil),
            ]
            for (kind, expected) in rows {
                XCTAssertEqual(pipeline.render(GatewayError(kind, "m"), context: context).wwwAuthenticate, expected, "\(kind) \(realm)")
            }
        }
    }

    /// An upstream's 401 keeps its own challenge; without one it gets the gateway's, without an error code.
    func testRewrittenUpstream401s() throws {
        let config = try parseConfig(minimalConfig + "route / { upstream u; }\nerrors { map NOPE UNAUTHORIZED 401; }\n")
        let stage = UpstreamErrorStage(errors: config.errors, challenge: AuthChallenge(realm: config.access.authRealm))
        let context = RequestContext()
        func rewrite(_ head: String, body: String = "") -> RenderedError {
            bytes(head).withUnsafeBufferPointer { p in
                var parser = ResponseHeadParser(limits: testHeadLimits)
                XCTAssertEqual(parser.parse(p.baseAddress!, count: p.count), .complete(headLength: p.count))
                let facts = stage.inspect(parser.head, headBytes: p.baseAddress!, context: context)
                return stage.rewrite(facts, body: bytes(body), context: context)
            }
        }
        XCTAssertEqual(rewrite("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n").wwwAuthenticate, "Bearer realm=\"gateway\"")
        let own = rewrite("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"up\"\r\nwww-authenticate: Bearer\r\n\r\n")
        XCTAssertEqual(own.wwwAuthenticate, "Basic realm=\"up\", Bearer")
        XCTAssertEqual(own.status, 401)
        // `map` turning another status into a 401 needs a challenge too; a 403 gets none, even if the upstream sent one.
        let mapped = rewrite("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n",
                             body: #"{"error":{"code":"NOPE","message":"no"}}"#)
        XCTAssertEqual(mapped.status, 401)
        XCTAssertEqual(mapped.wwwAuthenticate, "Bearer realm=\"gateway\"")
        XCTAssertNil(rewrite("HTTP/1.1 403 Forbidden\r\nWWW-Authenticate: Bearer\r\n\r\n").wwwAuthenticate)
    }

    func testRealmSyntax() {
        assertConfigError(minimalConfig + "auth_realm \"a\\\"b\";", at: "test.conf:3:12", ["'auth_realm'", "printable ASCII"])
        assertConfigError(minimalConfig + "auth_realm \"\";", at: "test.conf:3:12", ["'auth_realm'"])
        assertConfigError(minimalConfig + "auth_realm \"\(String(repeating: "r", count: 129))\";", at: "test.conf:3:12", ["1 to 128"])
    }
}
