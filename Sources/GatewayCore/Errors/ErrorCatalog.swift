/// One row of the error catalog (README's "Error reference"): status, both spellings, retry class.
public enum GatewayErrorKind: CaseIterable, Sendable {
    case missingApiKey, invalidApiKey, expiredApiKey, insufficientPermissions, rateLimitExceeded,
         concurrentRequestLimitExceeded, dailyMessageLimitReached, idempotencyConflict, invalidRequest,
         missingRequiredParameter, requestTooLarge, headersTooLarge, resourceNotFound, methodNotAllowed,
         requestTimeout, badGateway, serviceUnavailable, upstreamTimeout, internalServerError, uriTooLong, notImplemented

    public var status: Int {
        switch self {
        case .missingApiKey, .invalidApiKey, .expiredApiKey: return 401
        case .insufficientPermissions, .dailyMessageLimitReached: return 403
        case .rateLimitExceeded, .concurrentRequestLimitExceeded: return 429
        case .idempotencyConflict: return 409
        case .invalidRequest, .missingRequiredParameter: return 400
        case .requestTooLarge: return 413
        case .headersTooLarge: return 431
        case .uriTooLong: return 414
        case .notImplemented: return 501
        case .resourceNotFound: return 404
        case .methodNotAllowed: return 405
        case .requestTimeout: return 408
        case .badGateway: return 502
        case .serviceUnavailable: return 503
        case .upstreamTimeout: return 504
        case .internalServerError: return 500
        }
    }

    public var snakeCode: String {
        switch self {
        case .missingApiKey: return "missing_api_key"
        case .invalidApiKey: return "invalid_api_key"
        case .expiredApiKey: return "expired_api_key"
        case .insufficientPermissions: return "insufficient_permissions"
        case .rateLimitExceeded: return "rate_limit_exceeded"
        case .concurrentRequestLimitExceeded: return "concurrent_request_limit_exceeded"
        case .dailyMessageLimitReached: return "daily_message_limit_reached"
        case .idempotencyConflict: return "idempotency_conflict"
        case .invalidRequest: return "invalid_request"
        case .missingRequiredParameter: return "missing_required_parameter"
        case .requestTooLarge: return "request_too_large"
        case .headersTooLarge: return "headers_too_large"
        case .resourceNotFound: return "resource_not_found"
        case .methodNotAllowed: return "method_not_allowed"
        case .requestTimeout: return "request_timeout"
        case .badGateway: return "bad_gateway"
        case .serviceUnavailable: return "service_unavailable"
        case .upstreamTimeout: return "upstream_timeout"
        case .internalServerError: return "internal_server_error"
        case .uriTooLong: return "uri_too_long"
        case .notImplemented: return "not_implemented"
        }
    }

    public var upperCode: String {
        switch self {
        case .missingApiKey, .invalidApiKey, .expiredApiKey: return "UNAUTHORIZED"
        case .insufficientPermissions, .dailyMessageLimitReached: return "FORBIDDEN"
        case .rateLimitExceeded, .concurrentRequestLimitExceeded: return "RATE_LIMITED"
        case .idempotencyConflict: return "IDEMPOTENCY_CONFLICT"
        case .invalidRequest, .missingRequiredParameter, .requestTooLarge, .headersTooLarge, .uriTooLong: return "VALIDATION_ERROR"
        case .resourceNotFound: return "NOT_FOUND"
        case .methodNotAllowed: return "METHOD_NOT_ALLOWED"
        case .requestTimeout: return "REQUEST_TIMEOUT"
        case .badGateway, .upstreamTimeout, .internalServerError: return "SERVER_ERROR"
        case .serviceUnavailable: return "SERVICE_UNAVAILABLE"
        case .notImplemented: return "NOT_IMPLEMENTED"
        }
    }

    public func code(in vocabulary: ErrorVocabulary) -> String {
        switch vocabulary {
        case .snake: return snakeCode
        case .upper: return upperCode
        }
    }

    /// The catalog's retry class. `upstreamTimeout` is retryable only for idempotent requests; the caller knows the method.
    public var retryable: Bool {
        switch self {
        case .rateLimitExceeded, .concurrentRequestLimitExceeded, .dailyMessageLimitReached,
             .badGateway, .serviceUnavailable, .upstreamTimeout, .internalServerError:
            return true
        default:
            return false
        }
    }

    /// The generic kind for an upstream error status that came without a usable body.
    public static func forUpstreamStatus(_ status: Int) -> GatewayErrorKind {
        switch status {
        // The upstream refused the credentials the request carried: to the client that is a bad key, not a missing one.
        case 401: return .invalidApiKey
        case 403: return .insufficientPermissions
        case 404, 410: return .resourceNotFound
        case 405: return .methodNotAllowed
        case 408: return .requestTimeout
        case 413: return .requestTooLarge
        case 414: return .uriTooLong
        case 429: return .rateLimitExceeded
        case 431: return .headersTooLarge
        case 502: return .badGateway
        case 503: return .serviceUnavailable
        case 504: return .upstreamTimeout
        // The upstream cannot do what this request asks, however often it is sent: 501 Not Implemented,
        // 505 HTTP Version Not Supported, 510 Not Extended (the request lacks an extension it requires).
        case 501, 505, 510: return .notImplemented
        // 409 without a body says nothing about idempotency keys (that row is the gateway's own check),
        // so it and every other 4xx is a plain rejected request.
        case 400..<500: return .invalidRequest
        // 500, other 5xx, and anything that is not an error status at all: the upstream failed in a way we cannot name.
        default: return .internalServerError
        }
    }
}
