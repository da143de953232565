import XCTest
@testable import GatewayCore

final class ConfigValuesTests: XCTestCase {
    func testSizes() {
        let cases: [(String, Int64?)] = [
            ("0", 0), ("512", 512), ("10k", 10_240), ("16K", 16_384), ("100m", 104_857_600), ("1g", 1 << 30),
            ("", nil), ("k", nil), ("10kb", nil), ("1.5m", nil), ("-1", nil), ("10 k", nil), ("1t", nil),
            ("99999999999999999999", nil), ("9999999999999g", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(ConfigValues.size(text), expected, text)
        }
    }

    func testDurations() {
        let cases: [(String, Int64?)] = [
            ("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000), ("7", 7_000),
            ("0", 0), ("", nil), ("s", nil), ("5mm", nil), ("1.5s", nil), ("-1s", nil), ("10 s", nil), ("2w", nil),
            ("1S", nil), ("999999999999999999d", nil),
        ]
        for (text, expected) in cases {
            XCTAssertEqual(ConfigValues.durationMs(text), expected, text)
        }
    }

    func testListenAddresses() {
        let cases: [(String, String?, UInt16)] = [
            ("127.0.0.1:8080", "127.0.0.1", 8080), ("0.0.0.0:80", "0.0.0.0", 80), ("[::1]:8080", "::1", 8080),
            ("8080", "0.0.0.0", 8080), ("localhost:9000", "localhost", 9000), ("65535", "0.0.0.0", 65535),
            ("0", nil, 0), ("65536", nil, 0), ("127.0.0.1", nil, 0), ("127.0.0.1:", nil, 0), (":80", nil, 0),
            ("[::1]", nil, 0), ("[::1]8080", nil, 0), ("::1:8080", nil, 0), ("[zz]:80", nil, 0), ("host:80x", nil, 0),
            ("ho st:80", nil, 0), ("127.0.0.1:008080", nil, 0),
        ]
        for (text, host, port) in cases {
            let parsed = ConfigValues.hostPort(text, allowBarePort: true)
            XCTAssertEqual(parsed?.host, host, text)
            if host != nil { XCTAssertEqual(parsed?.port, port, text) }
        }
        XCTAssertNil(ConfigValues.hostPort("9000", allowBarePort: false), "servers need a host")
    }

    func testIntegersTokensAndCodes() {
        XCTAssertEqual(ConfigValues.integer("42"), 42)
        XCTAssertNil(ConfigValues.integer("+4"))
        XCTAssertNil(ConfigValues.integer("4a"))
        XCTAssertNil(ConfigValues.integer("99999999999999999999"))
        XCTAssertTrue(ConfigValues.isToken("GET"))
        XCTAssertTrue(ConfigValues.isToken("M-SEARCH"))
        XCTAssertFalse(ConfigValues.isToken("GE T"))
        XCTAssertFalse(ConfigValues.isToken("GET(1)"))
        XCTAssertTrue(ConfigValues.isErrorCode("session.disconnected-2_x"))
        XCTAssertFalse(ConfigValues.isErrorCode("bad code"))
        XCTAssertFalse(ConfigValues.isErrorCode(""))
    }

    func testSuggestions() {
        XCTAssertEqual(editDistance("workers", "wokers"), 1)
        XCTAssertEqual(editDistance("", "abc"), 3)
        XCTAssertEqual(editDistance("abc", ""), 3)
        XCTAssertEqual(closestName(to: "lisen", among: ["listen", "workers"]), "listen")
        XCTAssertNil(closestName(to: "frobnicate", among: ["listen", "workers"]))
    }
}
