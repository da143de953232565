import Foundation
import XCTest
@testable import GatewayCore

final class ErrorEnvelopeTests: XCTestCase {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Foundation as an independent oracle: the bytes must be valid JSON with the envelope's shape.
    private func decode(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [String: Any]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            XCTFail("not valid JSON: \(text(bytes))", file: file, line: line)
            return nil
        }
        XCTAssertEqual(object["success"] as? Bool, false, file: file, line: line)
        return object["error"] as? [String: Any]
    }

    func testExactBytes() {
        let cases: [(GatewayError, ErrorVocabulary, String, Int, Int?)] = [
            (GatewayError(.missingApiKey, "Missing API key"), .snake,
             #"{"success":false,"error":{"code":"missing_api_key","message":"Missing API key","request_id":"r1"}}"#, 401, nil),
            (GatewayError(.rateLimitExceeded, "Rate limit exceeded: 100 requests per 60 s", details: [("limit", .int(100))], retryAfterSeconds: 12), .snake,
             #"{"success":false,"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded: 100 requests per 60 s","details":{"limit":100,"retry_after_s":12},"request_id":"r1"}}"#, 429, 12),
            (GatewayError(.rateLimitExceeded, "slow down", retryAfterSeconds: 0), .upper,
             #"{"success":false,"error":{"code":"RATE_LIMITED","message":"slow down","details":{"retry_after_s":0},"request_id":"r1"}}"#, 429, 0),
            (GatewayError(.invalidRequest, "bad", details: [("field", .string("x")), ("ok", .bool(false)), ("neg", .int(-42)), ("raw", .rawJSON(Array(#"[1,{"a":null}]"#.utf8)))]), .upper,
             #"{"success":false,"error":{"code":"VALIDATION_ERROR","message":"bad","details":{"field":"x","ok":false,"neg":-42,"raw":[1,{"a":null}]},"request_id":"r1"}}"#, 400, nil),
            // An existing retry_after_s is rewritten in place so header and body agree.
            (GatewayError(.serviceUnavailable, "draining", details: [("retry_after_s", .int(99)), ("reason", .string("shutdown"))], retryAfterSeconds: 5), .snake,
             #"{"success":false,"error":{"code":"service_unavailable","message":"draining","details":{"retry_after_s":5,"reason":"shutdown"},"request_id":"r1"}}"#, 503, 5),
            (GatewayError(.internalServerError, "x", details: [("big", .int(Int.min)), ("max", .int(Int.max))]), .snake,
             #"{"success":false,"error":{"code":"internal_server_error","message":"x","details":{"big":-9223372036854775808,"max":9223372036854775807},"request_id":"r1"}}"#, 500, nil),
        ]
        for (error, vocabulary, expected, status, retry) in cases {
            let rendered = ErrorEnvelope.render(error, vocabulary: vocabulary, requestID: "r1")
            XCTAssertEqual(text(rendered.body), expected)
            XCTAssertEqual(rendered.status, status)
            XCTAssertEqual(rendered.retryAfterSeconds, retry)
            _ = decode(rendered.body)
        }
    }

    func testTrickyStringsStayValidJSON() {
        let strings = [
            "quote \" backslash \\ slash /",
            "controls \u{0}\u{1}\u{8}\t\n\r\u{1F}\u{7F}",
            "emoji 👋🏽 and 日本語 and é",
            "path /v1/messages?x=<script>alert(1)</script>",
            "",
            "\u{2028}\u{2029}",
        ]
        for s in strings {
            let body = ErrorEnvelope.encode(code: "invalid_request", message: s, details: [(s, .string(s))],
                                            retryAfterSeconds: nil, requestID: s)
            guard let error = decode(body) else { continue }
            XCTAssertEqual(error["message"] as? String, s)
            XCTAssertEqual(error["request_id"] as? String, s)
            XCTAssertEqual((error["details"] as? [String: Any])?[s] as? String, s)
            XCTAssertNotNil(JSONValue.parse(body))
        }
    }

    func testControlCharactersEscapedAsUnicode() {
        var out: [UInt8] = []
        JSONEscaping.appendQuoted("a\u{0}\n\u{1F}\"\\b", to: &out)
        XCTAssertEqual(text(out), #""a\u0000\u000a\u001f\"\\b""#)
    }

    func testInvalidUTF8BecomesReplacementCharacter() {
        let cases: [([UInt8], String)] = [
            ([0x61, 0xFF, 0x62], "a\u{FFFD}b"),
            ([0xC0, 0xAF], "\u{FFFD}\u{FFFD}"),                  // overlong
            ([0xE2, 0x82], "\u{FFFD}"),                          // truncated 3-byte, one maximal subpart
            ([0xE2, 0x82, 0x41], "\u{FFFD}A"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),    // encoded surrogate
            ([0xF4, 0x90, 0x80, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"), // above U+10FFFF
            ([0xF0, 0x9F, 0x91, 0x8B], "👋"),
            ([0x80], "\u{FFFD}"),
            ([0x22, 0x5C, 0x0A], "\"\\\n"),
        ]
        for (input, expected) in cases {
            var out: [UInt8] = []
            input.withUnsafeBufferPointer { JSONEscaping.appendQuoted(utf8: $0, to: &out) }
            let parsed = try? JSONSerialization.jsonObject(with: Data(out), options: .fragmentsAllowed) as? String
            XCTAssertEqual(parsed, expected, "\(input)")
            XCTAssertEqual(JSONValue.parse(out), .string(expected))
        }
    }
}
