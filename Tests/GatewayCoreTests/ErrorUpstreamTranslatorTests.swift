import Foundation
import XCTest
@testable import GatewayCore

final class ErrorUpstreamTranslatorTests: XCTestCase {
    private struct Case {
        var name: String
        var status: Int
        var body: String?
        var isJSON = true
        var upstreamRetry: Int? = nil
        var vocabulary: ErrorVocabulary
        var expectedStatus: Int
        var expectedRetry: Int?
        var expectedCode: String
        var expectedMessage: String
        /// Exact `details` object text, nil when absent.
        var expectedDetails: String?
    }

    private static func snakeBody(_ code: String, _ message: String, details: String? = nil) -> String {
        #"{"success":false,"error":{"code":""# + code + #"","message":""# + message + "\""
            + (details.map { #","details":"# + $0 } ?? "") + "}}"
    }

    private static func upperBody(_ code: String, _ message: String, details: String? = nil) -> String {
        #"{"error":{"code":""# + code + #"","message":""# + message + "\"" + (details.map { #","details":"# + $0 } ?? "") + "}}"
    }

    private func expectedBody(_ c: Case) -> String {
        #"{"success":false,"error":{"code":""# + c.expectedCode + #"","message":""# + c.expectedMessage + "\""
            + (c.expectedDetails.map { #","details":"# + $0 } ?? "") + #","request_id":"req-1"}}"#
    }

    private func run(_ cases: [Case], overrides: [ErrorCodeOverride] = []) {
        for c in cases {
            let translator = UpstreamErrorTranslator(vocabulary: c.vocabulary, overrides: overrides, retryAfterDefaultSeconds: 3)
            let result = translator.translate(status: c.status, body: c.body.map { Array($0.utf8) }, isJSON: c.isJSON,
                                              upstreamRetryAfter: c.upstreamRetry, requestID: "req-1")
            let label = "\(c.name) [\(c.vocabulary)]"
            XCTAssertEqual(result.status, c.expectedStatus, label)
            XCTAssertEqual(result.retryAfterSeconds, c.expectedRetry, label)
            XCTAssertEqual(String(decoding: result.body, as: UTF8.self), expectedBody(c), label)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(result.body)), label)
        }
    }

    func testJSONBodiesInBothDialects() {
        let phone = #"{"phone":"+4915112345678","attempts":[1,2]}"#
        var cases: [Case] = []
        func both(_ name: String, status: Int, body: String, upstreamRetry: Int? = nil, expectedStatus: Int? = nil,
                  retry: Int?, snake: String, upper: String, message: String, details: String?) {
            for (vocabulary, code) in [(ErrorVocabulary.snake, snake), (.upper, upper)] {
                cases.append(Case(name: name, status: status, body: body, upstreamRetry: upstreamRetry, vocabulary: vocabulary,
                                  expectedStatus: expectedStatus ?? status, expectedRetry: retry, expectedCode: code,
                                  expectedMessage: message, expectedDetails: details))
            }
        }
        both("snake session_disconnected", status: 400, body: Self.snakeBody("session_disconnected", "Phone offline", details: phone),
             retry: nil, snake: "session_disconnected", upper: "SESSION_DISCONNECTED", message: "Phone offline", details: phone)
        both("UPPER SESSION_DISCONNECTED", status: 400, body: Self.upperBody("SESSION_DISCONNECTED", "Phone offline"),
             retry: nil, snake: "session_disconnected", upper: "SESSION_DISCONNECTED", message: "Phone offline", details: nil)
        both("snake session_not_connected", status: 409, body: Self.snakeBody("session_not_connected", "Scan the QR code"),
             retry: nil, snake: "session_not_connected", upper: "SESSION_DISCONNECTED", message: "Scan the QR code", details: nil)
        both("UPPER SERVER_ERROR at 500", status: 500, body: Self.upperBody("SERVER_ERROR", "boom"),
             retry: 3, snake: "internal_server_error", upper: "SERVER_ERROR", message: "boom", details: #"{"retry_after_s":3}"#)
        both("UPPER SERVER_ERROR at 502", status: 502, body: Self.upperBody("SERVER_ERROR", "bad hop"),
             retry: 3, snake: "bad_gateway", upper: "SERVER_ERROR", message: "bad hop", details: #"{"retry_after_s":3}"#)
        both("snake internal_server_error at 500 with Retry-After", status: 500, body: Self.snakeBody("internal_server_error", "x"),
             upstreamRetry: 8, retry: 8, snake: "internal_server_error", upper: "SERVER_ERROR", message: "x", details: #"{"retry_after_s":8}"#)
        both("any 5xx is in the retry class", status: 507, body: Self.snakeBody("internal_server_error", "disk full", details: #"{"disk":"d1"}"#),
             retry: 3, snake: "internal_server_error", upper: "SERVER_ERROR", message: "disk full",
             details: #"{"disk":"d1","retry_after_s":3}"#)
        both("UPPER UNAUTHORIZED", status: 401, body: Self.upperBody("UNAUTHORIZED", "Invalid API key"),
             retry: nil, snake: "invalid_api_key", upper: "UNAUTHORIZED", message: "Invalid API key", details: nil)
        both("snake session_not_found", status: 404, body: Self.snakeBody("session_not_found", "No session s1"),
             retry: nil, snake: "session_not_found", upper: "SESSION_NOT_FOUND", message: "No session s1", details: nil)
        both("unknown odd code", status: 418, body: Self.snakeBody("Teapot-Error", "short and stout", details: #"{"x":null}"#),
             retry: nil, snake: "Teapot-Error", upper: "Teapot-Error", message: "short and stout", details: #"{"x":null}"#)
        both("rate limited with header", status: 429, body: Self.snakeBody("rate_limit_exceeded", "slow", details: #"{"limit":100}"#),
             upstreamRetry: 17, retry: 17, snake: "rate_limit_exceeded", upper: "RATE_LIMITED", message: "slow",
             details: #"{"limit":100,"retry_after_s":17}"#)
        both("rate limited, details hint only", status: 429, body: Self.upperBody("RATE_LIMITED", "slow", details: #"{"retry_after_s":30,"scope":"key"}"#),
             retry: 30, snake: "rate_limit_exceeded", upper: "RATE_LIMITED", message: "slow", details: #"{"retry_after_s":30,"scope":"key"}"#)
        both("header beats details hint", status: 429, body: Self.upperBody("RATE_LIMITED", "slow", details: #"{"retry_after_s":30}"#),
             upstreamRetry: 5, retry: 5, snake: "rate_limit_exceeded", upper: "RATE_LIMITED", message: "slow", details: #"{"retry_after_s":5}"#)
        both("503 without Retry-After gets the default", status: 503, body: Self.upperBody("SERVICE_UNAVAILABLE", "later"),
             retry: 3, snake: "service_unavailable", upper: "SERVICE_UNAVAILABLE", message: "later", details: #"{"retry_after_s":3}"#)
        both("daily quota with Retry-After", status: 403, body: Self.snakeBody("daily_message_limit_reached", "quota"),
             upstreamRetry: 3600, retry: 3600, snake: "daily_message_limit_reached", upper: "FORBIDDEN", message: "quota",
             details: #"{"retry_after_s":3600}"#)
        both("escapes kept valid", status: 400, body: Self.snakeBody("invalid_phone_number", #"bad \"x\" \u0001 é"#, details: #"{"q":"a\nb"}"#),
             retry: nil, snake: "invalid_phone_number", upper: "INVALID_PHONE_NUMBER", message: #"bad \"x\" \u0001 é"#, details: #"{"q":"a\u000ab"}"#)
        both("non-object details kept under one key", status: 400, body: Self.upperBody("VALIDATION_ERROR", "bad", details: #"["to"]"#),
             retry: nil, snake: "invalid_request", upper: "VALIDATION_ERROR", message: "bad", details: #"{"upstream_details":["to"]}"#)
        both("null details dropped", status: 413, body: Self.upperBody("VALIDATION_ERROR", "big", details: "null"),
             retry: nil, snake: "request_too_large", upper: "VALIDATION_ERROR", message: "big", details: nil)
        both("501 is never retried: no default Retry-After", status: 501, body: Self.upperBody("NOT_IMPLEMENTED", "no PATCH"),
             retry: nil, snake: "not_implemented", upper: "NOT_IMPLEMENTED", message: "no PATCH", details: nil)
        both("SERVER_ERROR at 505 is not in the retry class", status: 505, body: Self.upperBody("SERVER_ERROR", "HTTP/1.0 only"),
             retry: nil, snake: "internal_server_error", upper: "SERVER_ERROR", message: "HTTP/1.0 only", details: nil)
        both("a 501 keeps the upstream's own Retry-After", status: 501, body: Self.snakeBody("not_implemented", "soon"),
             upstreamRetry: 60, retry: 60, snake: "not_implemented", upper: "NOT_IMPLEMENTED", message: "soon", details: #"{"retry_after_s":60}"#)
        both("414 in UPPER", status: 414, body: Self.upperBody("VALIDATION_ERROR", "long"),
             retry: nil, snake: "uri_too_long", upper: "VALIDATION_ERROR", message: "long", details: nil)
        both("negative upstream Retry-After clamps to 0", status: 429, body: Self.upperBody("RATE_LIMITED", "slow"),
             upstreamRetry: -4, retry: 0, snake: "rate_limit_exceeded", upper: "RATE_LIMITED", message: "slow", details: #"{"retry_after_s":0}"#)
        run(cases)
    }

    func testOverrides() {
        let overrides = [ErrorCodeOverride(upstreamCode: "SESSION_DISCONNECTED", code: "session_needs_reconnect", status: 409),
                         ErrorCodeOverride(upstreamCode: "busy", code: "BUSY", status: 503)]
        run([
            Case(name: "override", status: 400, body: Self.upperBody("SESSION_DISCONNECTED", "offline"), vocabulary: .upper,
                 expectedStatus: 409, expectedRetry: nil, expectedCode: "session_needs_reconnect", expectedMessage: "offline", expectedDetails: nil),
            Case(name: "override to retryable status", status: 400, body: Self.snakeBody("busy", "try later"), vocabulary: .snake,
                 expectedStatus: 503, expectedRetry: 3, expectedCode: "BUSY", expectedMessage: "try later", expectedDetails: #"{"retry_after_s":3}"#),
        ], overrides: overrides)
    }

    func testUnusableBodiesGetTheGenericEnvelope() {
        let truncated = String(Self.snakeBody("session_disconnected", "Phone offline").dropLast(3))
        let rows: [(String, Int, String?, Bool, Int?, String, String, Int?)] = [
            ("HTML 502", 502, "<html><body>Bad Gateway</body></html>", false, nil, "bad_gateway", "SERVER_ERROR", 3),
            ("HTML labelled JSON", 500, "<html>oops</html>", true, nil, "internal_server_error", "SERVER_ERROR", 3),
            ("empty 500", 500, "", true, nil, "internal_server_error", "SERVER_ERROR", 3),
            ("truncated JSON 503", 503, truncated, true, 9, "service_unavailable", "SERVICE_UNAVAILABLE", 9),
            ("oversized 504", 504, nil, true, nil, "upstream_timeout", "SERVER_ERROR", 3),
            ("other JSON shape", 400, #"{"message":"nope"}"#, true, nil, "invalid_request", "VALIDATION_ERROR", nil),
            ("error is a string", 404, #"{"error":"not found"}"#, true, nil, "resource_not_found", "NOT_FOUND", nil),
            ("code not a string", 409, #"{"error":{"code":7,"message":"x"}}"#, true, nil, "invalid_request", "VALIDATION_ERROR", nil),
            ("empty code", 400, #"{"error":{"code":"","message":"x"}}"#, true, nil, "invalid_request", "VALIDATION_ERROR", nil),
            ("missing message", 400, #"{"error":{"code":"x"}}"#, true, nil, "invalid_request", "VALIDATION_ERROR", nil),
            ("success true", 400, #"{"success":true,"error":{"code":"x","message":"y"}}"#, true, nil, "invalid_request", "VALIDATION_ERROR", nil),
            ("JSON but text/plain", 401, Self.upperBody("UNAUTHORIZED", "no"), false, 2, "invalid_api_key", "UNAUTHORIZED", 2),
            ("plain text 429", 429, "Too Many Requests", false, nil, "rate_limit_exceeded", "RATE_LIMITED", 3),
            ("array body", 403, "[]", true, nil, "insufficient_permissions", "FORBIDDEN", nil),
            ("HTML 501", 501, "<html>Not Implemented</html>", false, nil, "not_implemented", "NOT_IMPLEMENTED", nil),
            ("empty 505", 505, "", true, nil, "not_implemented", "NOT_IMPLEMENTED", nil),
            ("plain 510", 510, "Not Extended", false, nil, "not_implemented", "NOT_IMPLEMENTED", nil),
            ("empty 507 stays in the retry class", 507, "", true, nil, "internal_server_error", "SERVER_ERROR", 3),
            ("plain text 414", 414, "URI Too Long", false, nil, "uri_too_long", "VALIDATION_ERROR", nil),
        ]
        var cases: [Case] = []
        for (name, status, body, isJSON, upstreamRetry, snake, upper, retry) in rows {
            let details = #"{"upstream_status":"# + String(status) + (retry.map { #","retry_after_s":"# + String($0) } ?? "") + "}"
            for (vocabulary, code) in [(ErrorVocabulary.snake, snake), (.upper, upper)] {
                cases.append(Case(name: name, status: status, body: body, isJSON: isJSON, upstreamRetry: upstreamRetry,
                                  vocabulary: vocabulary, expectedStatus: status, expectedRetry: retry, expectedCode: code,
                                  expectedMessage: "Upstream returned HTTP " + String(status), expectedDetails: details))
            }
        }
        run(cases)
    }

    func testGarbageBodiesNeverCrash() {
        let translator = UpstreamErrorTranslator(vocabulary: .snake, overrides: [], retryAfterDefaultSeconds: 1)
        var generator = SystemRandomNumberGenerator()
        let seed = Array(Self.snakeBody("x", "y", details: #"{"a":[1,{"b":"\u00e9"}]}"#).utf8)
        for _ in 0..<2000 {
            var body = seed
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                body[Int.random(in: 0..<body.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            let result = translator.translate(status: 500, body: body, isJSON: true, upstreamRetryAfter: nil, requestID: "r")
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(result.body)))
        }
    }
}
