import XCTest
@testable import GatewayCore

final class HTTPByteBufferTests: XCTestCase {
    func testAppendVariants() {
        let buffer = ByteBuffer(capacity: 4)
        XCTAssertEqual(buffer.capacity, 16, "capacity has a floor")
        XCTAssertEqual(buffer.readableCount, 0)
        buffer.append("static ")
        buffer.append(String("dynamic ") + "\u{E9} ")
        buffer.append([0x41, 0x42])
        buffer.append(byte: 0x43)
        bytes("!raw").withUnsafeBytes { buffer.append($0) }
        buffer.append(UnsafeRawBufferPointer(start: nil, count: 0))
        buffer.append([UInt8]())
        XCTAssertEqual(text(buffer), "static dynamic \u{E9} ABC!raw")
        XCTAssertEqual(buffer.readableCount, 25)
        XCTAssertEqual(buffer.writeIndex, 25)
        XCTAssertEqual(buffer.writableCount, buffer.capacity - 25)
        XCTAssertEqual(buffer.readPointer, buffer.base)
        XCTAssertEqual(buffer.writePointer, buffer.base + 25)
    }

    func testGrowthPreservesContent() {
        let buffer = ByteBuffer(capacity: 16)
        var expected: [UInt8] = []
        for i in 0..<1000 {
            let b = UInt8(truncatingIfNeeded: i * 31)
            buffer.append(byte: b)
            expected.append(b)
        }
        XCTAssertEqual(Array(buffer.readableBytes), expected)
        XCTAssertEqual(buffer.capacity, 1024, "capacity doubles")
        let big = [UInt8](repeating: 7, count: 5000)
        buffer.append(big)
        XCTAssertEqual(Array(buffer.readableBytes), expected + big)
        XCTAssertGreaterThanOrEqual(buffer.capacity, 6000)
        XCTAssertEqual(buffer.capacity & (buffer.capacity - 1), 0, "still a power of two")
    }

    func testCompactMovesLiveBytesToTheFront() {
        let buffer = ByteBuffer(capacity: 16)
        buffer.append("0123456789")
        buffer.readIndex = 4
        XCTAssertEqual(text(buffer), "456789")
        buffer.compact()
        XCTAssertEqual(buffer.readIndex, 0)
        XCTAssertEqual(buffer.writeIndex, 6)
        XCTAssertEqual(text(buffer), "456789")

        buffer.readIndex = 6
        buffer.compact()
        XCTAssertEqual(buffer.readIndex, 0)
        XCTAssertEqual(buffer.writeIndex, 0)
    }

    func testReserveCompactsBeforeGrowing() {
        let buffer = ByteBuffer(capacity: 16)
        buffer.append("abcdefghijklmnop")
        buffer.readIndex = 10
        buffer.reserve(8)
        XCTAssertEqual(buffer.capacity, 16, "compaction made room")
        XCTAssertEqual(text(buffer), "klmnop")
        XCTAssertGreaterThanOrEqual(buffer.writableCount, 8)
        buffer.append("12345678")
        XCTAssertEqual(text(buffer), "klmnop12345678")

        buffer.readIndex = 2
        buffer.reserve(100)
        XCTAssertEqual(text(buffer), "mnop12345678")
        XCTAssertGreaterThanOrEqual(buffer.writableCount, 100)
        XCTAssertEqual(buffer.readIndex, 0)
    }

    func testClear() {
        let buffer = ByteBuffer(capacity: 32)
        buffer.append("hello")
        buffer.readIndex = 2
        buffer.clear()
        XCTAssertEqual(buffer.readIndex, 0)
        XCTAssertEqual(buffer.writeIndex, 0)
        XCTAssertEqual(buffer.readableCount, 0)
        buffer.append("x")
        XCTAssertEqual(text(buffer), "x")
    }

    func testAppendDecimal() {
        let cases: [(Int, String)] = [
            (0, "0"), (7, "7"), (10, "10"), (99, "99"), (100, "100"), (1_234_567_890, "1234567890"),
            (Int.max, "9223372036854775807"), (-5, "0"),
        ]
        var powers: [(Int, String)] = []
        var power = 1
        for digits in 1...18 {
            power *= 10
            powers += [(power - 1, String(repeating: "9", count: digits)), (power, "1" + String(repeating: "0", count: digits))]
        }
        for (value, expected) in cases + powers {
            let buffer = ByteBuffer(capacity: 16)
            buffer.append("<")
            buffer.appendDecimal(value)
            buffer.append(">")
            XCTAssertEqual(text(buffer), "<\(expected)>", "\(value)")
        }
    }

    func testAppendField() {
        let buffer = ByteBuffer(capacity: 16)
        for (name, value) in [("Host", "example.com"), ("X", ""), ("A-Rather-Long-Header-Name", String(repeating: "v", count: 40))] {
            buffer.clear()
            buffer.append("<")
            bytes(name).withUnsafeBytes { n in
                bytes(value).withUnsafeBytes { v in
                    buffer.appendField(name: n.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, n.count,
                                       value: v.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, v.count)
                }
            }
            buffer.append(">")
            XCTAssertEqual(text(buffer), "<\(name): \(value)\r\n>")
        }
    }

    func testAppendHex() {
        let cases: [(Int, String)] = [
            (0, "0"), (1, "1"), (15, "f"), (16, "10"), (255, "ff"), (256, "100"), (4096, "1000"), (0xABCDEF, "abcdef"),
            (0x1_0000_0000, "100000000"), (Int.max, "7fffffffffffffff"), (0x1000_0000_0000_0000, "1000000000000000"),
        ]
        for (value, expected) in cases {
            let buffer = ByteBuffer(capacity: 16)
            buffer.append("<")
            buffer.appendHex(value)
            buffer.append(">")
            XCTAssertEqual(text(buffer), "<\(expected)>", "\(value)")
            XCTAssertEqual(Int(expected, radix: 16), value)
        }
    }

    func testAppendCopiesEveryShortLengthExactly() {
        // Short appends copy with word loads and stores (ByteBuffer.copy): every length and start
        // must land exactly, with nothing written past the end.
        let source = (0..<80).map { UInt8($0 + 1) }
        for start in 0..<9 {
            for length in 0...70 {
                let buffer = ByteBuffer(capacity: 160)
                buffer.append([UInt8](repeating: 0xEE, count: 160))
                buffer.writeIndex = start
                source.withUnsafeBytes { buffer.append($0.baseAddress!, count: length) }
                let bytes = Array(UnsafeRawBufferPointer(start: buffer.base, count: 160))
                XCTAssertEqual(buffer.writeIndex, start + length)
                XCTAssertEqual(Array(bytes[start..<start + length]), Array(source[0..<length]), "start \(start), length \(length)")
                XCTAssertTrue(bytes[(start + length)...].allSatisfy { $0 == 0xEE }, "start \(start), length \(length)")
                XCTAssertTrue(bytes[..<start].allSatisfy { $0 == 0xEE })
            }
        }
    }

    func testAppendsNearTheEndOfCapacity() {
        // Each formatter must reserve its own room even when the buffer is nearly full.
        for fill in 0..<40 {
            let buffer = ByteBuffer(capacity: 16)
            buffer.append([UInt8](repeating: 0x2E, count: fill))
            buffer.appendDecimal(Int.max)
            buffer.appendHex(Int.max)
            XCTAssertEqual(text(buffer), String(repeating: ".", count: fill) + "9223372036854775807" + "7fffffffffffffff")
        }
    }
}
