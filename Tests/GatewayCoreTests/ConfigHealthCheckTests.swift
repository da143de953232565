import XCTest
@testable import GatewayCore

/// `health_check` inside an upstream block: off unless written, defaults for every option left
/// out, and errors that point at the option at fault.
final class ConfigHealthCheckTests: XCTestCase {
    private func check(_ directive: String) throws -> HealthCheckConfig? {
        try parseConfig("listen 8080;\nupstream u { server 127.0.0.1:9000; \(directive) }\n").upstreams["u"]?.healthCheck
    }

    func testOffUnlessWritten() throws {
        XCTAssertNil(try check(""))
    }

    func testBareDirectiveTakesTheDefaults() throws {
        let config = try XCTUnwrap(try check("health_check;"))
        XCTAssertEqual(config.path, "/healthz")
        XCTAssertEqual(config.intervalMs, 5_000)
        XCTAssertEqual(config.timeoutMs, 2_000)
        XCTAssertEqual(config.fails, 3)
        XCTAssertEqual(config.passes, 2)
        XCTAssertEqual(config.statuses, 200...399)
    }

    func testEveryOption() throws {
        let config = try XCTUnwrap(try check("health_check path=/status?deep=1 interval=150ms timeout=100ms fails=4 passes=5 status=204;"))
        XCTAssertEqual(config.path, "/status?deep=1")
        XCTAssertEqual(config.intervalMs, 150)
        XCTAssertEqual(config.timeoutMs, 100)
        XCTAssertEqual(config.fails, 4)
        XCTAssertEqual(config.passes, 5)
        XCTAssertEqual(config.statuses, 204...204)
        XCTAssertEqual(try check("health_check status=200-299;")?.statuses, 200...299)
    }

    func testErrorsPointAtTheOption() {
        let prefix = "listen 8080;\nupstream u { server 127.0.0.1:9000; "
        let cases: [(String, String, [String])] = [
            ("health_check interval=5x;", "2:50", ["'health_check interval='", "10ms...1d"]),
            ("health_check interval=5ms;", "2:50", ["'health_check interval='", "10ms...1d"]),
            ("health_check timeout=0;", "2:50", ["'health_check timeout='"]),
            ("health_check fails=0;", "2:50", ["'health_check fails='", "1...100"]),
            ("health_check passes=x;", "2:50", ["'health_check passes='", "1...100"]),
            ("health_check status=200-;", "2:50", ["'health_check status='", "200-399"]),
            ("health_check status=399-200;", "2:50", ["'health_check status='"]),
            ("health_check status=600;", "2:50", ["'health_check status='", "100...599"]),
            ("health_check path=healthz;", "2:50", ["'health_check path='", "starting with '/'"]),
            ("health_check \"path=/a b\";", "2:50", ["'health_check path='"]),
            ("health_check \"path=/a#b\";", "2:50", ["'health_check path='", "without '#'"]),
            ("health_check intervall=1s;", "2:50", ["'health_check': unknown option 'intervall='", "did you mean 'interval='?"]),
            ("health_check colour=red;", "2:50", ["unknown option 'colour='", "expected path=PATH"]),
            ("health_check fails=1 fails=2;", "2:58", ["'health_check': duplicate option 'fails='"]),
            ("health_check interval=1s timeout=2s;", "2:62", ["'health_check': timeout (2000 ms) exceeds interval (1000 ms)"]),
            ("health_check interval=1s;", "2:37", ["'health_check': timeout (2000 ms) exceeds interval (1000 ms)"]),
            ("health_check; health_check;", "2:51", ["duplicate 'health_check'"]),
        ]
        for (text, at, mentions) in cases {
            assertConfigError(prefix + text + " }\n", at: "test.conf:" + at, mentions)
        }
    }
}
