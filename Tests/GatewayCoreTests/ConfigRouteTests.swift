import XCTest
@testable import GatewayCore

final class ConfigRouteTests: XCTestCase {
    private func routePrefix(_ config: GatewayConfig, _ path: String) -> String? {
        Array(path.utf8).withUnsafeBytes { config.route(forPath: $0)?.prefix }
    }

    func testLongestPrefixWins() throws {
        let config = try parseConfig(minimalConfig + """
            route /v1/ { upstream u; }
            route / { upstream u; }
            route /v1/users { upstream u; }
            route /v2 { upstream u; }
            """)
        let cases: [(String, String?)] = [
            ("/v1/users/42", "/v1/users"), ("/v1/users", "/v1/users"), ("/v1/user", "/v1/"), ("/v1/", "/v1/"),
            ("/v1", "/"), ("/v2", "/v2"), ("/v2x/y", "/v2"), ("/", "/"), ("/other", "/"), ("", nil), ("v1/", nil),
        ]
        for (path, expected) in cases {
            XCTAssertEqual(routePrefix(config, path), expected, path)
        }
        XCTAssertEqual(config.routes.map(\.prefix), ["/v1/", "/", "/v1/users", "/v2"], "file order is kept")
        XCTAssertEqual(Array("/v1/x".utf8).withUnsafeBytes { config.routeIndex(forPath: $0) }, 0)
    }

    func testNoCatchAllMeansNoMatch() throws {
        let config = try parseConfig(minimalConfig + "route /api { upstream u; }")
        XCTAssertNil(routePrefix(config, "/ap"))
        XCTAssertNil(routePrefix(config, "/API"), "matching is case-sensitive")
        XCTAssertEqual(routePrefix(config, "/api?q=1"), "/api")
    }

    func testReplacingRoutesRebuildsTheTable() throws {
        var config = try parseConfig(minimalConfig + "route /a { upstream u; }")
        config.routes.append(RouteConfig(prefix: "/a/b", upstream: "u"))
        XCTAssertEqual(routePrefix(config, "/a/b/c"), "/a/b")
        config.routes = []
        XCTAssertNil(routePrefix(config, "/a/b/c"))
    }
}
