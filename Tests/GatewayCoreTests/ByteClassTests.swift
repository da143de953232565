import XCTest
@testable import GatewayCore

/// The literal masks must equal the RFC 9110 definitions they encode.
final class ByteClassTests: XCTestCase {
    func testMasksMatchTheGrammar() {
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for b in 0..<256 {
            XCTAssertEqual(ByteClass.token[b], tchar.contains(UInt8(b)), "token \(b)")
            XCTAssertEqual(ByteClass.target[b], b > 0x20 && b < 0x7F && b != 0x23, "target \(b)")
            XCTAssertEqual(ByteClass.fieldValue[b], b == 0x09 || (b >= 0x20 && b != 0x7F), "field value \(b)")
        }
    }

    /// Up to 18 digits take the unchecked step, the 19th the checked one: every length around the
    /// boundary, with and without leading zeros, must agree with Int64's own parser.
    func testParseDecimalAgreesWithInt64() {
        var generator = SystemRandomNumberGenerator()
        var cases = ["0", "00", "9223372036854775807", "9223372036854775808", "9999999999999999999", "18446744073709551616"]
        for length in 1...22 {
            for _ in 0..<50 {
                cases.append(String((0..<length).map { _ in "0123456789".randomElement(using: &generator)! }))
            }
            cases.append(String(repeating: "9", count: length))
            cases.append("000" + String(repeating: "9", count: length))
        }
        for text in cases {
            let expected = Int64(text.drop { $0 == "0" }.isEmpty ? "0" : String(text.drop { $0 == "0" }))
            let parsed = Array(text.utf8).withUnsafeBufferPointer { Bytes.parseDecimal($0.baseAddress!, $0.count) }
            XCTAssertEqual(parsed, expected, text)
        }
    }
}
