import XCTest
@testable import GatewayCore

final class HTTPRequestIDTests: XCTestCase {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    private func next(_ generator: inout RequestIDGenerator, _ now: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: RequestIDGenerator.length)
        out.withUnsafeMutableBufferPointer { generator.next(nowMillis: now, into: $0.baseAddress!) }
        return out
    }

    /// Decodes the 130-bit value back into its two 64-bit halves (the top two bits must be zero).
    private func decode(_ id: [UInt8]) -> (high: UInt64, low: UInt64)? {
        var high: UInt64 = 0, low: UInt64 = 0
        for (i, c) in id.enumerated() {
            guard let v = Self.alphabet.firstIndex(of: c) else { return nil }
            if i == 0 && v > 7 { return nil }
            high = high << 5 | low >> 59
            low = low << 5 | UInt64(v)
        }
        return (high, low)
    }

    func testLayout() {
        let seed: UInt64 = 0xABCD_0000_0000_0005
        var generator = RequestIDGenerator(seed: seed)
        let times: [UInt64] = [0, 1, 1_700_000_000_123, 0xFFFF_FFFF_FFFF]
        for (n, time) in times.enumerated() {
            let id = next(&generator, time)
            XCTAssertEqual(id.count, 26)
            XCTAssertTrue(id.allSatisfy { Self.alphabet.contains($0) }, text(id))
            guard let (high, low) = decode(id) else {
                XCTFail("not decodable: \(text(id))")
                continue
            }
            XCTAssertEqual(high, time << 16 | 0xABCD, "time and prefix, \(time)")
            XCTAssertEqual(low, 5 + UInt64(n) + 1, "counter, \(time)")
        }
    }

    func testKnownValue() {
        var generator = RequestIDGenerator(seed: 0)
        XCTAssertEqual(text(next(&generator, 0)), "00000000000000000000000001")
        XCTAssertEqual(text(next(&generator, 0)), "00000000000000000000000002")
        var late = RequestIDGenerator(seed: 0xFFFF_0000_0000_001E)
        // time all ones (48 bits), prefix all ones, counter 31.
        XCTAssertEqual(text(next(&late, 0xFFFF_FFFF_FFFF)), "7ZZZZZZZZZZZZG00000000000Z")
    }

    func testTimeAboveFortyEightBitsIsIgnored() {
        var a = RequestIDGenerator(seed: 42)
        var b = RequestIDGenerator(seed: 42)
        XCTAssertEqual(next(&a, 0x1_0000_0000_0123), next(&b, 0x123))
    }

    func testIncreasingTimeGivesIncreasingIDs() {
        var generator = RequestIDGenerator(seed: 0x1234_5678_9ABC_DEF0)
        var previous = next(&generator, 0)
        var time: UInt64 = 1
        while time < 0xFFFF_FFFF_FFFF {
            let id = next(&generator, time)
            XCTAssertTrue(previous.lexicographicallyPrecedes(id), "\(text(previous)) < \(text(id)) at \(time)")
            previous = id
            time = time * 3 + 1
        }
        // Even a generator whose counter is far ahead sorts by time first.
        var behind = RequestIDGenerator(seed: 0x1234_FFFF_FFFF_FFF0)
        var ahead = RequestIDGenerator(seed: 0x1234_0000_0000_0000)
        XCTAssertTrue(next(&behind, 1000).lexicographicallyPrecedes(next(&ahead, 1001)))
    }

    func testDistinctWithinOneMillisecond() {
        var generator = RequestIDGenerator(seed: 0xDEAD_BEEF_0000_0001)
        var seen = Set<[UInt8]>()
        var previous: [UInt8]?
        for _ in 0..<10_000 {
            let id = next(&generator, 1_700_000_000_000)
            XCTAssertTrue(seen.insert(id).inserted, text(id))
            if let previous { XCTAssertTrue(previous.lexicographicallyPrecedes(id)) }
            previous = id
        }
        XCTAssertEqual(seen.count, 10_000)
        // Another generator (another event loop) in the same millisecond does not collide.
        var other = RequestIDGenerator(seed: 0xBEEF_BEEF_0000_0001)
        for _ in 0..<100 { XCTAssertFalse(seen.contains(next(&other, 1_700_000_000_000))) }
    }

    func testIsAcceptable() {
        let cases: [(String, Bool)] = [
            ("", false), ("a", true), ("01ARZ3NDEKTSV4RRFFQ69G5FAV", true), ("abc-DEF_123.x:y", true),
            ("550e8400-e29b-41d4-a716-446655440000", true), (String(repeating: "a", count: 128), true),
            (String(repeating: "a", count: 129), false), ("a b", false), ("a\tb", false), ("a\r\nX-Evil: 1", false),
            ("a/b", false), ("a,b", false), ("a;b", false), ("a\"b", false), ("caf\u{E9}", false), ("a\u{0}", false),
            ("{json}", false), ("a=b", false), ("~", false), ("+", false),
        ]
        for (value, expected) in cases {
            let ok = bytes(value).withUnsafeBufferPointer { RequestIDGenerator.isAcceptable($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            XCTAssertEqual(ok, expected, String(reflecting: value))
        }
    }
}
