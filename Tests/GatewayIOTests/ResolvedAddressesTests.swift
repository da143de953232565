import GatewayCore
import XCTest
@testable import GatewayIO

/// Names in `listen` and `server` become socket addresses before start; what cannot be resolved
/// or would listen twice is a config error at the line that says it.
final class ResolvedAddressesTests: XCTestCase {
    private func resolve(_ text: String) throws -> ResolvedAddresses {
        try ResolvedAddresses.resolve(GatewayConfig.parse(text: text, file: "t.conf", baseDirectory: "/nonexistent"))
    }

    /// The error is `expected`, or starts with it when `expected` ends in ": " (the resolver's own words follow).
    private func assertError(_ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try resolve(text), file: file, line: line) { error in
            let description = "\(error)"
            if expected.hasSuffix(": ") {
                XCTAssertTrue(description.hasPrefix(expected) && description.count > expected.count, description, file: file, line: line)
            } else {
                XCTAssertEqual(description, expected, file: file, line: line)
            }
        }
    }

    private let route = "route / { upstream u; }\n"

    func testNumericAndNamedAddresses() throws {
        let resolved = try resolve("""
        listen 8080;
        listen [::1]:8443;
        upstream u { server localhost:9000 weight=3 max_fails=2; server 10.0.0.7:9001; server [::1]:9002; }
        \(route)
        """)
        XCTAssertEqual(resolved.listen.map(\.address.description), ["0.0.0.0:8080", "[::1]:8443"])
        let servers = resolved.servers["u"] ?? []
        // localhost is whatever the resolver says (127.0.0.1 here, perhaps ::1 too); each keeps the line's knobs.
        let local = servers.filter { $0.config.host == "localhost" }
        XCTAssertFalse(local.isEmpty)
        XCTAssertTrue(local.contains { $0.address.description == "127.0.0.1:9000" }, "\(local.map(\.address))")
        XCTAssertTrue(local.allSatisfy { $0.config.weight == 3 && $0.config.maxFails == 2 && $0.address.port == 9000 })
        XCTAssertEqual(servers.dropFirst(local.count).map(\.address.description), ["10.0.0.7:9001", "[::1]:9002"])
    }

    func testUnresolvableNamesAreErrorsAtTheirLine() {
        assertError("listen 8080;\nupstream u {\n    server api.internal.invalid:9000;\n}\n" + route,
                    "t.conf:3:12: 'server': cannot resolve 'api.internal.invalid': ")
        assertError("listen nowhere.invalid:8080;\nupstream u { server 127.0.0.1:1; }\n" + route,
                    "t.conf:1:8: 'listen': cannot resolve 'nowhere.invalid': ")
    }

    func testListeningTwiceOnOneAddressIsAnError() {
        let upstream = "upstream u { server 127.0.0.1:1; }\n" + route
        assertError("listen 127.0.0.1:8080;\nlisten 127.0.0.1:8080;\n" + upstream,
                    "t.conf:2:8: duplicate 'listen 127.0.0.1:8080'; 127.0.0.1:8080 is already listened on at t.conf:1:8")
        assertError("listen 127.0.0.1:8080;\nlisten localhost:8080;\n" + upstream,
                    "t.conf:2:8: duplicate 'listen localhost:8080' (127.0.0.1:8080); 127.0.0.1:8080 is already listened on at t.conf:1:8")
        assertError("listen 8080;\nlisten 127.0.0.1:8080;\n" + upstream,
                    "t.conf:2:8: 'listen 127.0.0.1:8080' overlaps 0.0.0.0:8080, listened on at t.conf:1:8; "
                        + "expected either the wildcard address or specific ones on port 8080")
        // Different ports, or IPv4 and IPv6 wildcards (IPv6 listeners are IPv6-only), are fine.
        XCTAssertNoThrow(try resolve("listen 127.0.0.1:8080;\nlisten 127.0.0.1:8081;\nlisten 8082;\nlisten [::]:8082;\n" + upstream))
    }
}
