import XCTest
@testable import GatewayCore

final class ErrorRetryAfterTests: XCTestCase {
    /// 1994-11-06 08:49:37 UTC, the RFC's example date.
    private let rfcExample: Int64 = 784_111_777

    private func seconds(_ value: String, now: Int64) -> Int? {
        Array(value.utf8).withUnsafeBytes { RetryAfter.seconds(from: $0, nowEpochSeconds: now) }
    }

    func testTable() {
        let now = rfcExample - 120
        let table: [(String, Int?)] = [
            ("0", 0), ("120", 120), (" 7 ", 7), ("\t30", 30), ("0042", 42),
            ("31536000", 31_536_000), ("31536001", 31_536_000), ("99999999999999999999999999", 31_536_000),
            ("Sun, 06 Nov 1994 08:49:37 GMT", 120),
            ("Sunday, 06-Nov-94 08:49:37 GMT", 120),
            ("Sun Nov  6 08:49:37 1994", 120),
            ("Sun Nov 06 08:49:37 1994", 120),
            ("  Sun, 06 Nov 1994 08:49:37 GMT  ", 120),
            ("Sun, 06 Nov 1994 08:47:37 GMT", 0),        // now
            ("Sat, 01 Jan 1994 00:00:00 GMT", 0),        // past
            ("Thu, 01 Jan 2099 00:00:00 GMT", 31_536_000), // absurdly far
            ("Mon, 07 Nov 1994 08:47:37 GMT", 86_400),   // weekday is not checked against the date
            ("Tue, 29 Feb 1994 00:00:00 GMT", nil), ("Tue, 31 Apr 1994 00:00:00 GMT", nil),
            ("Sun, 06 Nov 1994 24:00:00 GMT", nil), ("Sun, 06 Nov 1994 08:60:00 GMT", nil),
            ("Sun, 06 Nov 1994 08:49:37 UTC", nil), ("Sun, 06 Nov 1994 08:49:37", nil),
            ("Sun, 06 Nov 1994 08:49:37 GMT x", nil), ("Sun, 6 Nov 1994 08:49:37 GMT", nil),
            ("sun, 06 Nov 1994 08:49:37 GMT", nil), ("Sun, 06 nov 1994 08:49:37 GMT", nil),
            ("Sunday, 06 Nov 1994 08:49:37 GMT", nil), ("Sun, 06-Nov-94 08:49:37 GMT", nil),
            ("Sun Nov  6 08:49:37 1994 GMT", nil), ("Sun Nov  6 8:49:37 1994", nil),
            ("", nil), ("   ", nil), ("-5", nil), ("+5", nil), ("1.5", nil), ("5s", nil), ("soon", nil),
            ("Sun,", nil), ("Sun, 06 Nov", nil), ("\u{0}", nil), ("Sun, 06 Nov 1994 08:49:", nil),
        ]
        for (value, expected) in table {
            XCTAssertEqual(seconds(value, now: now), expected, value)
        }
    }

    func testRFC850TwoDigitYearIsTheMostRecentPlausibleCentury() {
        // 2024-01-01T00:00:00Z: "94" is 1994 (2094 is more than 50 years ahead), "30" is 2030.
        let now: Int64 = 1_704_067_200
        XCTAssertEqual(seconds("Sunday, 06-Nov-94 08:49:37 GMT", now: now), 0)
        XCTAssertEqual(seconds("Tuesday, 01-Jan-30 00:00:00 GMT", now: now), 31_536_000)
        XCTAssertEqual(seconds("Monday, 01-Jan-24 00:01:00 GMT", now: now), 60)
    }

    func testExtremeClock() {
        XCTAssertEqual(seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: Int64.min), 31_536_000)
        XCTAssertEqual(seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: Int64.max), 0)
        XCTAssertEqual(seconds("5", now: Int64.max), 5)
    }

    func testInvalidBytesDoNotCrash() {
        let garbage: [[UInt8]] = [[0xFF, 0xFE], [0x53, 0x75, 0x6E, 0x2C, 0x20, 0xC3], Array(repeating: 0x39, count: 10_000)]
        for bytes in garbage {
            _ = bytes.withUnsafeBytes { RetryAfter.seconds(from: $0, nowEpochSeconds: 0) }
        }
    }
}
