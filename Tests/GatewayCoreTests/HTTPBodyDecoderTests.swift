import XCTest
@testable import GatewayCore

final class HTTPBodyDecoderTests: XCTestCase {
    /// Decodes `input` in one shot, byte by byte, at every two-piece split and in a few odd
    /// patterns; every run must agree with the one-shot run, which is returned.
    private func decodeEveryWay(_ framing: BodyFraming, _ input: [UInt8],
                                file: StaticString = #filePath, line: UInt = #line) -> BodyRun {
        let whole = decodeBody(framing, input)
        XCTAssertEqual(whole.payloadBytes, Int64(whole.payload.count), "payloadBytes counts payload", file: file, line: line)
        var patterns: [[Int]] = [[1], [2], [3, 1, 4], [7]]
        if input.count > 1 {
            // Every split point for short inputs; a spread of them for long ones.
            let stride = input.count <= 600 ? 1 : 97
            patterns += Swift.stride(from: 1, to: input.count, by: stride).map { [$0, input.count] }
            patterns.append([input.count - 1, input.count])
        }
        for pieces in patterns {
            let run = decodeBody(framing, input, pieces: pieces)
            XCTAssertEqual(run, whole, "pieces \(pieces.prefix(2)) of \(String(reflecting: text(input)))", file: file, line: line)
        }
        return whole
    }

    private func decodeEveryWay(_ framing: BodyFraming, _ input: String,
                                file: StaticString = #filePath, line: UInt = #line) -> BodyRun {
        decodeEveryWay(framing, bytes(input), file: file, line: line)
    }

    func testContentLength() {
        let r = decodeEveryWay(.length(11), "hello worldGET / HTTP/1.1\r\n")
        XCTAssertEqual(text(r.payload), "hello world")
        XCTAssertEqual(r.endedAfter, 11)
        XCTAssertNil(r.failure)
        XCTAssertEqual(r.payloadBytes, 11)
    }

    func testContentLengthIncomplete() {
        let r = decodeEveryWay(.length(10), "hello")
        XCTAssertEqual(text(r.payload), "hello")
        XCTAssertNil(r.endedAfter)
        XCTAssertNil(r.failure)
        XCTAssertEqual(r.payloadBytes, 5)
    }

    func testContentLengthAcrossManyCalls() {
        let body = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var decoder = BodyDecoder(framing: .length(1000))
        var got: [UInt8] = []
        body.withUnsafeBufferPointer { b in
            var position = 0
            while position < b.count {
                let size = min(13, b.count - position)
                switch decoder.next(b.baseAddress! + position, count: size) {
                case .data(let offset, let length, let consumed):
                    XCTAssertEqual(offset, 0)
                    XCTAssertEqual(length, size)
                    XCTAssertEqual(consumed, size)
                    got += b[(position + offset)..<(position + offset + length)]
                    position += consumed
                default:
                    XCTFail("expected data at \(position)")
                    return
                }
                XCTAssertEqual(decoder.payloadBytes, Int64(position))
                XCTAssertEqual(decoder.isDone, position == 1000)
            }
            XCTAssertEqual(decoder.next(b.baseAddress!, count: 0), .end(consumed: 0))
        }
        XCTAssertEqual(got, body)
    }

    func testEmptyBodies() {
        for framing in [BodyFraming.none, .length(0)] {
            var decoder = BodyDecoder(framing: framing)
            XCTAssertTrue(decoder.isDone)
            XCTAssertFalse(decoder.endsAtClose)
            let input = bytes("next request")
            input.withUnsafeBufferPointer { b in
                XCTAssertEqual(decoder.next(b.baseAddress!, count: b.count), .end(consumed: 0))
            }
            XCTAssertEqual(decoder.payloadBytes, 0)
        }
    }

    func testUntilClose() {
        let r = decodeEveryWay(.untilClose, "everything\r\n0\r\n\r\nuntil close")
        XCTAssertEqual(text(r.payload), "everything\r\n0\r\n\r\nuntil close")
        XCTAssertNil(r.endedAfter)
        XCTAssertNil(r.failure)
        XCTAssertEqual(r.payloadBytes, 28)

        var decoder = BodyDecoder(framing: .untilClose)
        XCTAssertTrue(decoder.endsAtClose)
        XCTAssertFalse(decoder.isDone)
        let input = bytes("abc")
        input.withUnsafeBufferPointer { b in
            XCTAssertEqual(decoder.next(b.baseAddress!, count: 0), .needMore(consumed: 0))
            XCTAssertEqual(decoder.next(b.baseAddress!, count: 3), .data(offset: 0, length: 3, consumed: 3))
        }
        XCTAssertTrue(decoder.endsAtClose)
    }

    func testChunked() {
        let cases: [(String, String, String)] = [
            ("single chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
            ("no chunks", "0\r\n\r\n", ""),
            ("several chunks", "5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "hello world"),
            ("extensions", "5;name=value\r\nhello\r\n6;a;b=\"q ; x\"\r\n world\r\n0;last\r\n\r\n", "hello world"),
            ("empty extension", "3;\r\nabc\r\n0\r\n\r\n", "abc"),
            ("trailers", "3\r\nabc\r\n0\r\nX-Checksum: 123\r\nX-Other:\tv a l\r\n\r\n", "abc"),
            ("uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
            ("mixed hex", "1a\r\n" + String(repeating: "z", count: 26) + "\r\n1A\r\n" + String(repeating: "Y", count: 26) + "\r\n0\r\n\r\n",
             String(repeating: "z", count: 26) + String(repeating: "Y", count: 26)),
            ("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"),
            ("leading zeros beyond 15 digits", "0000000000000000000005\r\nhello\r\n0\r\n\r\n", "hello"),
            ("BWS before extension", "5 ;a=b\r\nhello\r\n0\t \t;last\r\n\r\n", "hello"),
            ("BWS around extension parts", "5 ; a = b\r\nhello\r\n0\r\n\r\n", "hello"),
            ("trailer with empty value", "0\r\nX-Empty:\r\n\r\n", ""),
            ("CRLF inside data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"),
        ]
        for (name, body, payload) in cases {
            let input = body + "NEXT"
            let r = decodeEveryWay(.chunked, input)
            XCTAssertNil(r.failure, name)
            XCTAssertEqual(text(r.payload), payload, name)
            XCTAssertEqual(r.endedAfter, body.utf8.count, name)
            XCTAssertEqual(r.payloadBytes, Int64(payload.utf8.count), name)
        }
    }

    func testChunkedDataIsHandedOutInPlace() {
        var decoder = BodyDecoder(framing: .chunked)
        let input = bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        input.withUnsafeBufferPointer { b in
            let p = b.baseAddress!
            XCTAssertEqual(decoder.next(p, count: b.count), .data(offset: 3, length: 3, consumed: 6))
            XCTAssertEqual(decoder.next(p + 6, count: b.count - 6), .data(offset: 5, length: 2, consumed: 7))
            XCTAssertEqual(decoder.next(p + 13, count: b.count - 13), .end(consumed: 7))
            XCTAssertEqual(decoder.payloadBytes, 5)
            XCTAssertTrue(decoder.isDone)
        }
    }

    func testChunkedIncomplete() {
        let cases: [(String, String)] = [
            ("size only", "5"),
            ("size line", "5\r\n"),
            ("partial data", "5\r\nhel"),
            ("data without CRLF", "5\r\nhello"),
            ("last chunk", "5\r\nhello\r\n0\r\n"),
            ("inside trailer", "0\r\nX: y"),
            ("after trailer", "0\r\nX: y\r\n"),
            ("last CR", "0\r\n\r"),
            ("fifteen hex digits", "fffffffffffffff\r\nabc"),
        ]
        for (name, input) in cases {
            let r = decodeEveryWay(.chunked, input)
            XCTAssertNil(r.failure, name)
            XCTAssertNil(r.endedAfter, name)
        }
        XCTAssertEqual(text(decodeBody(.chunked, bytes("fffffffffffffff\r\nabc")).payload), "abc")
    }

    func testChunkedInvalid() {
        let longExtension = "1;" + String(repeating: "e", count: BodyDecoder.maxChunkExtension + 1) + "\r\nx\r\n0\r\n\r\n"
        let longTrailer = "0\r\nX: " + String(repeating: "t", count: BodyDecoder.maxTrailerSize) + "\r\n\r\n"
        let cases: [(String, String, String, String)] = [
            ("missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "hello", "chunk data not followed by CRLF"),
            ("CR without LF after data", "5\r\nhello\rX0\r\n\r\n", "hello", "chunk data not followed by CRLF"),
            ("LF only after data", "5\r\nhello\n0\r\n\r\n", "hello", "chunk data not followed by CRLF"),
            ("bad hex", "g\r\n", "", "invalid chunk size"),
            ("bad hex after digit", "5g\r\nhello\r\n", "", "invalid chunk size"),
            ("empty size", "\r\n", "", "invalid chunk size"),
            ("negative size", "-1\r\n", "", "invalid chunk size"),
            ("hex prefix", "0x5\r\nhello\r\n", "", "invalid chunk size"),
            ("space after size", "5 \r\nhello\r\n0\r\n\r\n", "", "invalid chunk size"),
            ("space before size", " 5\r\nhello\r\n0\r\n\r\n", "", "invalid chunk size"),
            ("extension without size", ";x\r\n", "", "invalid chunk size"),
            ("bare LF size line", "5\nhello\r\n", "", "invalid chunk size"),
            ("CR not followed by LF", "5\rhello\r\n", "", "chunk size line not terminated by CRLF"),
            ("sixteen hex digits", "1000000000000000\r\n", "", "chunk size too large"),
            ("overflowing size", "ffffffffffffffffff\r\n", "", "chunk size too large"),
            ("sixteen significant digits after zeros", "0001000000000000000\r\n", "", "chunk size too large"),
            ("endless leading zeros", String(repeating: "0", count: BodyDecoder.maxChunkExtension + 1) + "5\r\n", "", "chunk size too large"),
            ("space then junk after size", "5 x\r\nhello\r\n0\r\n\r\n", "", "invalid chunk size"),
            ("oversized BWS", "5" + String(repeating: " ", count: BodyDecoder.maxChunkExtension + 1) + ";x\r\nhello\r\n", "", "invalid chunk size"),
            ("trailer without a colon", "0\r\nX-Checksum\r\n\r\n", "", "trailer line without a colon"),
            ("request line as a trailer", "0\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n", "", "invalid trailer field"),
            ("space before a trailer colon", "0\r\nX : y\r\n\r\n", "", "invalid trailer field"),
            ("oversized extension", longExtension, "", "invalid or oversized chunk extension"),
            ("control char in extension", "1;a\u{1}b\r\nx\r\n0\r\n\r\n", "", "invalid or oversized chunk extension"),
            ("bare LF in extension", "1;a\nx\r\n0\r\n\r\n", "", "invalid or oversized chunk extension"),
            ("second chunk bad", "1\r\na\r\nzz\r\n", "a", "invalid chunk size"),
            ("trailer starting with space", "0\r\n X: y\r\n\r\n", "", "invalid trailer field"),
            ("trailer starting with colon", "0\r\n: y\r\n\r\n", "", "invalid trailer field"),
            ("control char in trailer", "0\r\nX: a\u{1}\r\n\r\n", "", "invalid trailer field"),
            ("CR inside trailer", "0\r\nX: a\rb\r\n\r\n", "", "trailer line not terminated by CRLF"),
            ("bare LF trailer", "0\r\nX: a\n\r\n", "", "invalid trailer field"),
            ("final CR without LF", "0\r\n\rX", "", "trailer line not terminated by CRLF"),
            ("bare LF ending", "0\r\n\n", "", "invalid trailer field"),
            ("oversized trailer", longTrailer, "", "trailer section too large"),
        ]
        for (name, input, payload, failure) in cases {
            let r = decodeEveryWay(.chunked, input)
            XCTAssertEqual(r.failure, failure, name)
            XCTAssertEqual(text(r.payload), payload, name)
            XCTAssertEqual(r.payloadBytes, Int64(payload.utf8.count), name)
            XCTAssertNil(r.endedAfter, name)
        }
    }

    func testChunkExtensionAndTrailerLimitsAreInclusive() {
        let extensionAtLimit = "1;" + String(repeating: "e", count: BodyDecoder.maxChunkExtension) + "\r\nx\r\n0\r\n\r\n"
        let r = decodeBody(.chunked, bytes(extensionAtLimit))
        XCTAssertNil(r.failure)
        XCTAssertEqual(text(r.payload), "x")
        XCTAssertEqual(r.endedAfter, extensionAtLimit.utf8.count)

        // Several trailer lines together under the limit are fine.
        let line = "X-T: " + String(repeating: "t", count: 95) + "\r\n"  // 100 bytes before CRLF
        let trailers = "0\r\n" + String(repeating: line, count: 80) + "\r\n"
        let ok = decodeBody(.chunked, bytes(trailers))
        XCTAssertNil(ok.failure)
        XCTAssertEqual(ok.endedAfter, trailers.utf8.count)
        // ...but their sum is bounded, not only each line.
        let tooMany = "0\r\n" + String(repeating: line, count: 90) + "\r\n"
        XCTAssertEqual(decodeBody(.chunked, bytes(tooMany)).failure, "trailer section too large")
    }

    func testLargeChunkSizes() {
        var decoder = BodyDecoder(framing: .chunked)
        let input = bytes("7FFFFFFFFFFFFFF\r\n")
        input.withUnsafeBufferPointer { b in
            XCTAssertEqual(decoder.next(b.baseAddress!, count: b.count), .needMore(consumed: b.count))
        }
        let data = [UInt8](repeating: 0x41, count: 4096)
        data.withUnsafeBufferPointer { b in
            XCTAssertEqual(decoder.next(b.baseAddress!, count: b.count), .data(offset: 0, length: 4096, consumed: 4096))
        }
        XCTAssertEqual(decoder.payloadBytes, 4096)
        XCTAssertFalse(decoder.isDone)
    }
}
