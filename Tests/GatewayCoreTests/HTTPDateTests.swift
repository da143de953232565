import XCTest
@testable import GatewayCore

final class HTTPDateTests: XCTestCase {
    private func text(_ seconds: Int64) -> String {
        var line = HTTPDateLine()
        return String(decoding: line.line(epochSeconds: seconds), as: UTF8.self)
    }

    func testIMFFixdate() {
        XCTAssertEqual(text(0), "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n")
        XCTAssertEqual(text(784_111_777), "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "RFC 9110's own example")
        XCTAssertEqual(text(951_782_400), "Date: Tue, 29 Feb 2000 00:00:00 GMT\r\n")
        XCTAssertEqual(text(1_798_761_599), "Date: Thu, 31 Dec 2026 23:59:59 GMT\r\n")
        XCTAssertEqual(text(4_107_542_400), "Date: Mon, 01 Mar 2100 00:00:00 GMT\r\n", "2100 is not a leap year")
    }

    func testReformatsOnlyWhenTheSecondChanges() {
        var line = HTTPDateLine()
        let first = line.line(epochSeconds: 100)
        XCTAssertEqual(line.line(epochSeconds: 100), first)
        XCTAssertNotEqual(line.line(epochSeconds: 101), first)
    }

    func testAgreesWithTheParserOfRetryAfterDates() {
        for seconds: Int64 in [0, 86_399, 86_400, 1_000_000_000, 1_800_000_000, 2_000_000_123] {
            let value = Array(text(seconds).utf8.dropFirst(6).dropLast(2))
            let parsed = value.withUnsafeBytes { RetryAfter.seconds(from: $0, nowEpochSeconds: seconds - 10) }
            XCTAssertEqual(parsed, 10, "\(seconds)")
        }
    }
}
