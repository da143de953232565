import XCTest
@testable import GatewayCore

final class ErrorCodeTranslatorTests: XCTestCase {
    func testToUpper() {
        let table: [(String, Int, String)] = [
            ("missing_api_key", 401, "UNAUTHORIZED"), ("invalid_api_key", 401, "UNAUTHORIZED"),
            ("expired_api_key", 401, "UNAUTHORIZED"), ("insufficient_permissions", 403, "FORBIDDEN"),
            ("daily_message_limit_reached", 403, "FORBIDDEN"), ("rate_limit_exceeded", 429, "RATE_LIMITED"),
            ("concurrent_request_limit_exceeded", 429, "RATE_LIMITED"), ("request_too_large", 413, "VALIDATION_ERROR"),
            ("bad_gateway", 502, "SERVER_ERROR"), ("upstream_timeout", 504, "SERVER_ERROR"),
            ("service_unavailable", 503, "SERVICE_UNAVAILABLE"), ("resource_not_found", 404, "NOT_FOUND"),
            ("session_not_found", 404, "SESSION_NOT_FOUND"), ("session_disconnected", 400, "SESSION_DISCONNECTED"),
            ("session_not_connected", 400, "SESSION_DISCONNECTED"), ("message_sending_failed", 500, "MESSAGE_SENDING_FAILED"),
            ("qr_code_expired", 400, "QR_CODE_EXPIRED"), ("e2e_failure", 400, "E2E_FAILURE"),
            ("ALREADY_UPPER", 400, "ALREADY_UPPER"),
            // Not plain codes: passed through.
            ("Mixed_Case", 400, "Mixed_Case"), ("kebab-case", 400, "kebab-case"), ("camelCase", 400, "camelCase"),
            ("", 400, ""), ("_leading", 400, "_leading"), ("trailing_", 400, "trailing_"), ("double__under", 400, "double__under"),
            ("9lives", 400, "9lives"), ("émoji_👋", 400, "émoji_👋"),
        ]
        for (code, status, expected) in table {
            XCTAssertEqual(ErrorCodeTranslator.convert(code, to: .upper, status: status), expected, code)
        }
    }

    func testToSnake() {
        let table: [(String, Int, String)] = [
            ("UNAUTHORIZED", 401, "invalid_api_key"), ("UNAUTHORIZED", 400, "invalid_api_key"),
            ("FORBIDDEN", 403, "insufficient_permissions"), ("RATE_LIMITED", 429, "rate_limit_exceeded"),
            ("VALIDATION_ERROR", 400, "invalid_request"), ("VALIDATION_ERROR", 413, "request_too_large"),
            ("VALIDATION_ERROR", 431, "headers_too_large"), ("VALIDATION_ERROR", 422, "invalid_request"),
            ("SERVER_ERROR", 500, "internal_server_error"), ("SERVER_ERROR", 502, "bad_gateway"),
            ("SERVER_ERROR", 504, "upstream_timeout"), ("SERVER_ERROR", 503, "internal_server_error"),
            ("NOT_FOUND", 404, "resource_not_found"), ("METHOD_NOT_ALLOWED", 405, "method_not_allowed"),
            ("REQUEST_TIMEOUT", 408, "request_timeout"), ("IDEMPOTENCY_CONFLICT", 409, "idempotency_conflict"),
            ("SERVICE_UNAVAILABLE", 503, "service_unavailable"),
            ("SESSION_NOT_FOUND", 404, "session_not_found"), ("SESSION_DISCONNECTED", 400, "session_disconnected"),
            ("INVALID_PHONE_NUMBER", 400, "invalid_phone_number"), ("E2E_FAILURE", 400, "e2e_failure"),
            ("already_snake", 400, "already_snake"), ("session_not_connected", 400, "session_not_connected"),
            ("Mixed_Case", 400, "Mixed_Case"), ("SOME-THING", 400, "SOME-THING"), ("", 400, ""),
        ]
        for (code, status, expected) in table {
            XCTAssertEqual(ErrorCodeTranslator.convert(code, to: .snake, status: status), expected, "\(code) \(status)")
        }
    }

    func testOverridesWinAndChangeStatus() {
        let overrides = [
            ErrorCodeOverride(upstreamCode: "SESSION_DISCONNECTED", code: "session_needs_reconnect", status: 409),
            ErrorCodeOverride(upstreamCode: "quota_gone", code: "QUOTA_GONE", status: 403),
        ]
        let table: [(ErrorVocabulary, String, Int, String, Int)] = [
            (.snake, "SESSION_DISCONNECTED", 400, "session_needs_reconnect", 409),
            (.upper, "SESSION_DISCONNECTED", 400, "session_needs_reconnect", 409),
            (.snake, "session_disconnected", 400, "session_disconnected", 400), // overrides match the upstream spelling exactly
            (.upper, "quota_gone", 429, "QUOTA_GONE", 403),
            (.upper, "UNAUTHORIZED", 401, "UNAUTHORIZED", 401),
            (.snake, "UNAUTHORIZED", 401, "invalid_api_key", 401),
        ]
        for (vocabulary, code, status, expectedCode, expectedStatus) in table {
            let result = ErrorCodeTranslator(vocabulary: vocabulary, overrides: overrides).translate(code, status: status)
            XCTAssertEqual(result.code, expectedCode, code)
            XCTAssertEqual(result.status, expectedStatus, code)
        }
    }

    func testEveryCatalogRowRoundTrips() {
        for kind in GatewayErrorKind.allCases {
            XCTAssertEqual(ErrorCodeTranslator.convert(kind.snakeCode, to: .upper, status: kind.status), kind.upperCode)
            let back = ErrorCodeTranslator.convert(kind.upperCode, to: .snake, status: kind.status)
            XCTAssertEqual(ErrorCodeTranslator.convert(back, to: .upper, status: kind.status), kind.upperCode)
        }
    }
}
