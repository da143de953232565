import Foundation
import XCTest
@testable import GatewayCore

final class AccessLogEncoderTests: XCTestCase {
    private var layout = MetricsLayout(routes: ["/v1/", "/v1/messages"], upstreams: ["messaging"], servers: [["127.0.0.1:9000"]])

    private func record() -> AccessLogRecord {
        var r = AccessLogRecord()
        r.wallMillis = 1_796_040_000_123  // 2026-11-30T12:00:00.123Z
        r.requestID = Array("01M89XJ3Q8E9X0007YVP62C6BN".utf8)
        r.client = Array("10.1.2.3".utf8)
        r.request = Array("POST/v1/messages/text".utf8)
        r.methodLength = 4
        r.route = 1
        r.status = 201
        r.keyFingerprint = 0xa527_82e3
        r.upstream = (group: 0, server: 0)
        r.upstreamMicros = 812
        r.totalMicros = 1_034
        r.bytesIn = 98
        r.bytesOut = 311
        r.idempotency = .stored
        r.rateLimitRemaining = 19
        return r
    }

    private func line(_ r: AccessLogRecord, _ format: AccessLogConfig.Format) -> String {
        let out = ByteBuffer(capacity: 64)
        var encoder = AccessLogEncoder(format: format, layout: layout)
        encoder.append(r, to: out)
        return String(decoding: out.readableBytes, as: UTF8.self)
    }

    private func object(_ r: AccessLogRecord) throws -> [String: Any] {
        let text = line(r, .json)
        XCTAssertTrue(text.hasSuffix("}\n"))
        XCTAssertEqual(text.filter { $0 == "\n" }.count, 1, "one line")
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func testJSONLineHasEveryField() throws {
        let json = try object(record())
        XCTAssertEqual(json["time"] as? String, "2026-11-30T12:00:00.123Z")
        XCTAssertEqual(json["request_id"] as? String, "01M89XJ3Q8E9X0007YVP62C6BN")
        XCTAssertEqual(json["client"] as? String, "10.1.2.3")
        XCTAssertEqual(json["method"] as? String, "POST")
        XCTAssertEqual(json["path"] as? String, "/v1/messages/text")
        XCTAssertEqual(json["route"] as? String, "/v1/messages")
        XCTAssertEqual(json["status"] as? Int, 201)
        XCTAssertTrue(json["error"] is NSNull)
        XCTAssertEqual(json["key"] as? String, "a52782e3")
        XCTAssertEqual(json["upstream"] as? String, "messaging")
        XCTAssertEqual(json["server"] as? String, "127.0.0.1:9000")
        XCTAssertEqual(json["upstream_us"] as? Int, 812)
        XCTAssertEqual(json["total_us"] as? Int, 1_034)
        XCTAssertEqual(json["bytes_in"] as? Int, 98)
        XCTAssertEqual(json["bytes_out"] as? Int, 311)
        XCTAssertEqual(json["idempotency"] as? String, "stored")
        XCTAssertEqual(json["ratelimit_remaining"] as? Int, 19)
        XCTAssertEqual(json.count, 17)
    }

    func testAnUnparsedRequestHasNullsWhereNothingIsKnown() throws {
        var r = AccessLogRecord()
        r.requestID = Array("X".utf8)
        r.client = Array("::1".utf8)
        r.status = 400
        r.error = .invalidRequest
        let json = try object(r)
        for field in ["method", "path", "route", "key", "upstream", "server", "upstream_us", "ratelimit_remaining"] {
            XCTAssertTrue(json[field] is NSNull, field)
        }
        XCTAssertEqual(json["error"] as? String, "invalid_request")
        XCTAssertEqual(json["idempotency"] as? String, "none")
        XCTAssertEqual(json["time"] as? String, "1970-01-01T00:00:00.000Z")
    }

    /// Client bytes never break the line: quotes, control characters and ill-formed UTF-8.
    func testHostileBytesStayOneValidLine() throws {
        var r = record()
        r.request = Array("GET".utf8) + Array("/a\"b\\c".utf8) + [0x01, 0x0A, 0xFF, 0xC3, 0xA9]
        r.methodLength = 3
        r.requestID = Array("id\"\n".utf8)
        let json = try object(r)
        XCTAssertEqual(json["path"] as? String, "/a\"b\\c\u{1}\n\u{FFFD}é")
        XCTAssertEqual(json["request_id"] as? String, "id\"\n")
        let text = line(r, .text)
        XCTAssertEqual(text.filter { $0 == "\n" }.count, 1)
        XCTAssertTrue(text.contains(" GET /a\\x22b\\x5cc\\x01\\x0a\\xff\\xc3\\xa9 201 "), text)
    }

    func testTextLine() {
        XCTAssertEqual(line(record(), .text),
                       "2026-11-30T12:00:00.123Z 10.1.2.3 POST /v1/messages/text 201 1034us id=01M89XJ3Q8E9X0007YVP62C6BN "
                       + "route=/v1/messages error=- key=a52782e3 upstream=messaging server=127.0.0.1:9000 upstream_us=812 "
                       + "in=98 out=311 idempotency=stored ratelimit_remaining=19\n")
        var unparsed = AccessLogRecord()
        unparsed.client = Array("10.0.0.9".utf8)
        unparsed.requestID = Array("R".utf8)
        unparsed.status = 431
        unparsed.error = .headersTooLarge
        XCTAssertEqual(line(unparsed, .text),
                       "1970-01-01T00:00:00.000Z 10.0.0.9 - - 431 0us id=R route=- error=headers_too_large key=- upstream=- "
                       + "server=- upstream_us=- in=0 out=0 idempotency=none ratelimit_remaining=-\n")
    }

    func testTimeIsRFC3339WithMilliseconds() throws {
        for (millis, text) in [(UInt64(0), "1970-01-01T00:00:00.000Z"), (951_782_400_999, "2000-02-29T00:00:00.999Z"),
                               (4_102_444_799_001, "2099-12-31T23:59:59.001Z")] {
            var r = AccessLogRecord()
            r.wallMillis = millis
            XCTAssertEqual(try object(r)["time"] as? String, text)
        }
    }

    /// The room reserved up front holds the worst case: every byte of every value escaped.
    func testTheWorstCaseFitsTheReservedRoom() {
        let name = String(repeating: "\u{1}\"", count: 60)
        layout = MetricsLayout(routes: [name], upstreams: [name], servers: [[name]])
        var r = record()
        r.request = [UInt8](repeating: 0x01, count: 300)
        r.methodLength = 100
        r.requestID = [UInt8](repeating: 0x02, count: 200)
        r.route = 0
        r.error = .concurrentRequestLimitExceeded
        r.rateLimitRemaining = .max
        r.totalMicros = .max
        for format in [AccessLogConfig.Format.json, .text] {
            XCTAssertLessThanOrEqual(line(r, format).utf8.count, AccessLogEncoder(format: format, layout: layout).bound(r), "\(format)")
        }
    }

    /// Names from the configuration are escaped like request values (a quoted route prefix may hold anything).
    func testConfiguredNamesAreEscaped() throws {
        layout = MetricsLayout(routes: ["/a \"b\""], upstreams: ["up"], servers: [["h:1"]])
        var r = record()
        r.route = 0
        XCTAssertEqual(try object(r)["route"] as? String, "/a \"b\"")
        XCTAssertTrue(line(r, .text).contains(" route=/a\\x20\\x22b\\x22 "), line(r, .text))
    }

    /// The date and time are formatted once per second; the milliseconds every line.
    func testTheTimeMovesWithinAndAcrossSeconds() {
        var encoder = AccessLogEncoder(format: .text, layout: layout)
        let out = ByteBuffer(capacity: 64)
        var r = record()
        for millis in [UInt64(1_796_040_000_123), 1_796_040_000_999, 1_796_040_001_000, 1_796_040_000_001] {
            r.wallMillis = millis
            encoder.append(r, to: out)
        }
        let times = String(decoding: out.readableBytes, as: UTF8.self).split(separator: "\n").map { $0.prefix(24) }
        XCTAssertEqual(times, ["2026-11-30T12:00:00.123Z", "2026-11-30T12:00:00.999Z", "2026-11-30T12:00:01.000Z", "2026-11-30T12:00:00.001Z"])
    }
}

/// The eight-bytes-at-a-time test agrees with the byte-at-a-time one for every byte in every place.
final class LineWriterTests: XCTestCase {
    func testNeedsEscapingMatchesTheByteTest() {
        func plain(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x80 && b != 0x22 && b != 0x5C }
        for byte in 0...255 {
            for position in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                bytes[position] = UInt8(byte)
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                XCTAssertEqual(LineWriter.needsEscaping(word), !plain(UInt8(byte)), "byte \(byte) at \(position)")
            }
        }
        let mixed = Array("ab\u{1F}\"x\\yz".utf8)
        XCTAssertTrue(mixed.withUnsafeBytes { LineWriter.needsEscaping($0.loadUnaligned(as: UInt64.self)) })
    }

    func testDecimal() {
        for value: UInt64 in [0, 9, 10, 99, 100, 12_345, .max] {
            var bytes = [UInt8](repeating: 0, count: 24)
            let count = bytes.withUnsafeMutableBufferPointer { room in
                var w = LineWriter(room.baseAddress!)
                w.decimal(value)
                return w.p - room.baseAddress!
            }
            XCTAssertEqual(String(decoding: bytes[..<count], as: UTF8.self), String(value))
        }
    }
}
