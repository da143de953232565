import Foundation
import XCTest
@testable import GatewayCore

final class AccessLogEncoderTests: XCTestCase {
    private func record() -> AccessLogRecord {
        var r = AccessLogRecord()
        r.wallMillis = 1_796_040_000_123  // 2026-11-30T12:00:00.123Z
        r.requestID = Array("01M89XJ3Q8E9X0007YVP62C6BN".utf8)
        r.client = Array("10.1.2.3".utf8)
        r.request = Array("POST/v1/messages/text".utf8)
        r.methodLength = 4
        r.route = "/v1/messages"
        r.status = 201
        r.keyFingerprint = 0xa527_82e3
        r.upstream = "messaging"
        r.server = "127.0.0.1:9000"
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
        AccessLogEncoder.append(r, format: format, to: out)
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
        var r = record()
        r.request = [UInt8](repeating: 0x01, count: 300)
        r.methodLength = 100
        r.requestID = [UInt8](repeating: 0x02, count: 200)
        r.route = String(repeating: "\u{1}", count: 50)
        r.rateLimitRemaining = .max
        r.totalMicros = .max
        for format in [AccessLogConfig.Format.json, .text] {
            XCTAssertLessThanOrEqual(line(r, format).utf8.count, AccessLogEncoder.bound(r), "\(format)")
        }
    }
}
