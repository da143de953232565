import XCTest
@testable import GatewayCore

final class ErrorCatalogTests: XCTestCase {
    func testEveryRow() {
        let rows: [(GatewayErrorKind, String, String, Int, Bool)] = [
            (.missingApiKey, "missing_api_key", "UNAUTHORIZED", 401, false),
            (.invalidApiKey, "invalid_api_key", "UNAUTHORIZED", 401, false),
            (.expiredApiKey, "expired_api_key", "UNAUTHORIZED", 401, false),
            (.insufficientPermissions, "insufficient_permissions", "FORBIDDEN", 403, false),
            (.rateLimitExceeded, "rate_limit_exceeded", "RATE_LIMITED", 429, true),
            (.concurrentRequestLimitExceeded, "concurrent_request_limit_exceeded", "RATE_LIMITED", 429, true),
            (.dailyMessageLimitReached, "daily_message_limit_reached", "FORBIDDEN", 403, true),
            (.idempotencyConflict, "idempotency_conflict", "IDEMPOTENCY_CONFLICT", 409, false),
            (.invalidRequest, "invalid_request", "VALIDATION_ERROR", 400, false),
            (.missingRequiredParameter, "missing_required_parameter", "VALIDATION_ERROR", 400, false),
            (.requestTooLarge, "request_too_large", "VALIDATION_ERROR", 413, false),
            (.headersTooLarge, "headers_too_large", "VALIDATION_ERROR", 431, false),
            (.resourceNotFound, "resource_not_found", "NOT_FOUND", 404, false),
            (.methodNotAllowed, "method_not_allowed", "METHOD_NOT_ALLOWED", 405, false),
            (.requestTimeout, "request_timeout", "REQUEST_TIMEOUT", 408, false),
            (.badGateway, "bad_gateway", "SERVER_ERROR", 502, true),
            (.serviceUnavailable, "service_unavailable", "SERVICE_UNAVAILABLE", 503, true),
            (.upstreamTimeout, "upstream_timeout", "SERVER_ERROR", 504, true),
            (.internalServerError, "internal_server_error", "SERVER_ERROR", 500, true),
            (.uriTooLong, "uri_too_long", "VALIDATION_ERROR", 414, false),
            (.notImplemented, "not_implemented", "NOT_IMPLEMENTED", 501, false),
        ]
        XCTAssertEqual(rows.count, GatewayErrorKind.allCases.count)
        for (kind, snake, upper, status, retryable) in rows {
            XCTAssertEqual(kind.snakeCode, snake)
            XCTAssertEqual(kind.upperCode, upper)
            XCTAssertEqual(kind.code(in: .snake), snake)
            XCTAssertEqual(kind.code(in: .upper), upper)
            XCTAssertEqual(kind.status, status, snake)
            XCTAssertEqual(kind.retryable, retryable, snake)
        }
    }

    func testForUpstreamStatus() {
        let table: [(Int, GatewayErrorKind)] = [
            (400, .invalidRequest), (401, .invalidApiKey), (403, .insufficientPermissions), (404, .resourceNotFound),
            (405, .methodNotAllowed), (408, .requestTimeout), (409, .invalidRequest), (410, .resourceNotFound),
            (413, .requestTooLarge), (414, .uriTooLong), (418, .invalidRequest), (422, .invalidRequest),
            (429, .rateLimitExceeded), (431, .headersTooLarge), (499, .invalidRequest),
            (500, .internalServerError), (501, .notImplemented), (502, .badGateway), (503, .serviceUnavailable),
            (504, .upstreamTimeout), (505, .notImplemented), (506, .internalServerError), (507, .internalServerError),
            (508, .internalServerError), (510, .notImplemented), (511, .internalServerError), (599, .internalServerError),
            (200, .internalServerError), (-1, .internalServerError), (Int.max, .internalServerError),
        ]
        for (status, kind) in table {
            XCTAssertEqual(GatewayErrorKind.forUpstreamStatus(status), kind, "\(status)")
        }
    }
}
