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
}
