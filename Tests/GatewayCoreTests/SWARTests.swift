import XCTest
@testable import GatewayCore

/// The word-at-a-time scans must answer exactly as the per-byte tables do: every byte value at
/// every position of every length up to three words, on backgrounds of bytes that pass (the kind
/// a word test vouches for, and the kind it leaves to the table), at every alignment.
final class SWARTests: XCTestCase {
    typealias Scan = (UnsafePointer<UInt8>, Int, Int) -> Int

    /// Compares `scan` with the first byte `accepts` refuses, for `bytes` placed at offsets 0...7
    /// of a larger buffer whose other bytes are refused by every class (so a scan that looked past
    /// its range would answer differently).
    func check(_ bytes: [UInt8], _ name: String, _ scan: Scan, _ accepts: (UInt8) -> Bool,
               file: StaticString = #filePath, line: UInt = #line) {
        let expected = bytes.firstIndex { !accepts($0) } ?? bytes.count
        for offset in 0..<8 {
            var buffer = [UInt8](repeating: 0, count: offset + bytes.count + 8)
            buffer.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            let found = buffer.withUnsafeBufferPointer { scan($0.baseAddress!, offset, offset + bytes.count) } - offset
            if found != expected {
                XCTFail("\(name): \(bytes) at offset \(offset): \(found), the table says \(expected)", file: file, line: line)
                return
            }
        }
    }

    /// Every length 0...24 over `background`, and each of those with every byte value at every position.
    func forEachVariant(of background: String, _ body: ([UInt8]) -> Void) {
        let cycle = Array(background.utf8)
        for length in 0...24 {
            let base = (0..<length).map { cycle[$0 % cycle.count] }
            body(base)
            for position in 0..<length {
                for b in 0...255 {
                    var bytes = base
                    bytes[position] = UInt8(b)
                    body(bytes)
                }
            }
        }
    }

    func testTokenEndAgreesWithTheTable() {
        for background in ["Content-Length-X9", "!#$%&'*+-.^_`|~"] {
            forEachVariant(of: background) { check($0, "tokenEnd", SWAR.tokenEnd, { ByteClass.token[Int($0)] }) }
        }
    }

    func testFieldValueEndAgreesWithTheTable() {
        let obsText = String(decoding: [0x61, 0x09, 0x80, 0xFF, 0x20, 0x7E, 0xC3, 0xA9], as: UTF8.self)
        for background in ["application/json; charset=utf-8", obsText] {
            forEachVariant(of: background) { bytes in
                check(bytes, "fieldValueEnd", SWAR.fieldValueEnd, { ByteClass.fieldValue[Int($0)] })
            }
        }
    }

    func testPathAndQueryEndsAgreeWithTheTable() {
        for background in ["/v1/sessions/demo-x_y.z~", "/a?b=c&d=%20e!$'()*+,;:@"] {
            forEachVariant(of: background) { bytes in
                check(bytes, "pathEnd", SWAR.pathEnd, { ByteClass.target[Int($0)] && $0 != UInt8(ascii: "?") })
                check(bytes, "targetEnd", SWAR.targetEnd, { ByteClass.target[Int($0)] })
            }
        }
    }

    func testRandomStringsAgreeWithTheTables() {
        var generator = SystemRandomNumberGenerator()
        let common = Array("aZ09-_.:/?#% \t\u{7F}".utf8) + [0x00, 0x0D, 0x0A, 0x80, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                Bool.random(using: &generator) ? common.randomElement(using: &generator)! : UInt8.random(in: 0x21...0x7E, using: &generator)
            }
            check(bytes, "tokenEnd", SWAR.tokenEnd, { ByteClass.token[Int($0)] })
            check(bytes, "pathEnd", SWAR.pathEnd, { ByteClass.target[Int($0)] && $0 != UInt8(ascii: "?") })
            check(bytes, "targetEnd", SWAR.targetEnd, { ByteClass.target[Int($0)] })
            check(bytes, "fieldValueEnd", SWAR.fieldValueEnd, { ByteClass.fieldValue[Int($0)] })
        }
    }

    /// For tokens, folding with 0x20 must agree with the byte-wise case-insensitive comparison:
    /// every literal the classifier uses, against itself in any case and with every tchar at every position.
    func testTokenEqualsAgreesWithTheByteWiseComparison() {
        let literals: [StaticString] = [
            "te", "host", "date", "expect", "trailer", "upgrade", "x-api-key", "connection", "keep-alive", "retry-after",
            "x-request-id", "content-type", "authorization", "content-length", "x-forwarded-for", "idempotency-key",
            "proxy-connection", "transfer-encoding", "x-forwarded-proto", "a-rather-long-header-name",
        ]
        let tchars = (0...255).map(UInt8.init).filter { ByteClass.token[Int($0)] }
        for literal in literals {
            let lower = Array(literal.description.utf8)
            var candidates = [lower, Array(literal.description.uppercased().utf8), Array(lower.dropLast()), lower + [0x61]]
            for position in lower.indices {
                for b in tchars {
                    var variant = lower
                    variant[position] = b
                    candidates.append(variant)
                }
            }
            for candidate in candidates {
                let fast = candidate.withUnsafeBufferPointer { SWAR.tokenEquals($0.baseAddress!, $0.count, literal) }
                let exact = candidate.withUnsafeBufferPointer { Bytes.equalsLowercase($0.baseAddress!, $0.count, literal) }
                XCTAssertEqual(fast, exact, "\(text(candidate)) vs \(literal)")
            }
        }
    }
}

/// The word-at-a-time fast paths of the path normaliser and the Host syntax against the per-byte
/// rules they replace, on paths and hosts with every interesting byte (pair) at every position.
final class SWARFastPathTests: XCTestCase {
    /// `PathNormalizer.needsWork` one byte at a time: `%`, `\`, `//` or `/.` anywhere.
    func needsWorkByBytes(_ b: [UInt8]) -> Bool {
        for (i, c) in b.enumerated() {
            if c == UInt8(ascii: "%") || c == UInt8(ascii: "\\") { return true }
            if c == UInt8(ascii: "/") && i + 1 < b.count && (b[i + 1] == UInt8(ascii: "/") || b[i + 1] == UInt8(ascii: ".")) {
                return true
            }
        }
        return false
    }

    /// `HostSyntax.isValid` for a reg-name host, one byte at a time as it was written first.
    func regNameHostByBytes(_ p: [UInt8]) -> Bool {
        let n = p.count
        if n == 0 { return false }
        var i = 0
        while i < n && p[i] != UInt8(ascii: ":") {
            if p[i] == UInt8(ascii: "%") {
                if i + 2 >= n || !HostSyntax.isHex(p[i + 1]) || !HostSyntax.isHex(p[i + 2]) { return false }
                i += 3
                continue
            }
            if !HostSyntax.regName[Int(p[i])] { return false }
            i += 1
        }
        if i == 0 { return false }
        if i == n { return true }
        if n - i - 1 > 5 { return false }
        return p[(i + 1)...].allSatisfy(HostSyntax.isDigit)
    }

    func check(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let padded = bytes + [0]  // never empty, so there is a pointer to pass
        let needsWork = padded.withUnsafeBufferPointer { PathNormalizer.needsWork($0.baseAddress!, bytes.count) }
        XCTAssertEqual(needsWork, needsWorkByBytes(bytes), "needsWork \(bytes)", file: file, line: line)
        if bytes.first != UInt8(ascii: "[") {
            let valid = padded.withUnsafeBufferPointer { HostSyntax.isValid($0.baseAddress!, bytes.count) }
            XCTAssertEqual(valid, regNameHostByBytes(bytes), "isValid \(bytes)", file: file, line: line)
        }
    }

    func testEveryPairOfInterestingBytesAtEveryPosition() {
        let interesting = Array("/.%\\:aZ9-_~".utf8) + [0x00, 0x20, 0x7F, 0x80, 0xFF]
        for background in ["/v1/sessions/demo-x_y.z", "api.example-1.com:8080", "127.0.0.1"] {
            let cycle = Array(background.utf8)
            for length in 0...24 {
                let base = (0..<length).map { cycle[$0 % cycle.count] }
                check(base)
                for position in 0..<length {
                    for b in 0...255 {
                        var bytes = base
                        bytes[position] = UInt8(b)
                        check(bytes)
                    }
                    guard position + 1 < length else { continue }
                    for first in interesting {
                        for second in interesting {
                            var bytes = base
                            bytes[position] = first
                            bytes[position + 1] = second
                            check(bytes)
                        }
                    }
                }
            }
        }
    }
}
