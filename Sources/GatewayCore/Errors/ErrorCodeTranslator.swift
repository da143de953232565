/// Translates error codes between the two vocabularies (catalog rows first, then by case),
/// with operator overrides taking precedence.
public struct ErrorCodeTranslator: Sendable {
    public var vocabulary: ErrorVocabulary
    public var overrides: [ErrorCodeOverride]

    public init(vocabulary: ErrorVocabulary, overrides: [ErrorCodeOverride] = []) {
        self.vocabulary = vocabulary
        self.overrides = overrides
    }

    /// The code and status to send for an upstream `code` that came with `status`.
    /// An override matching the upstream code exactly wins and is sent verbatim, with its own status.
    public func translate(_ code: String, status: Int) -> (code: String, status: Int) {
        if let override = overrides.first(where: { $0.upstreamCode == code }) {
            return (override.code, override.status)
        }
        return (Self.convert(code, to: vocabulary, status: status), status)
    }

    /// `code` spelled in `vocabulary`. `status` disambiguates UPPER codes that several catalog rows share.
    public static func convert(_ code: String, to vocabulary: ErrorVocabulary, status: Int) -> String {
        switch (vocabulary, spelling(of: code)) {
        case (.snake, .upper):
            let rows = upperToSnakeRows.filter { $0.upperCode == code }
            if let row = rows.first(where: { $0.status == status }) ?? rows.first { return row.snakeCode }
            return changeCase(code, from: UInt8(ascii: "A"), to: UInt8(ascii: "a"))
        case (.upper, .snake):
            if let alias = snakeAliases.first(where: { $0.0 == code }) { return alias.1 }
            if let row = GatewayErrorKind.allCases.first(where: { $0.snakeCode == code }) { return row.upperCode }
            return changeCase(code, from: UInt8(ascii: "a"), to: UInt8(ascii: "A"))
        default:
            // Already in the target vocabulary, or not a plain code at all: passed through untouched.
            return code
        }
    }

    /// Rows an UPPER code can stand for. Rows UPPER cannot tell apart from a sibling with the same status
    /// (missing/expired key, concurrency limit, daily quota, missing parameter) are left out; where no status
    /// matches, the first listed row is the fallback (e.g. SERVER_ERROR at 503 -> internal_server_error).
    private static let upperToSnakeRows: [GatewayErrorKind] = [
        .invalidApiKey, .insufficientPermissions, .rateLimitExceeded, .idempotencyConflict,
        .invalidRequest, .requestTooLarge, .headersTooLarge, .resourceNotFound, .methodNotAllowed,
        .requestTimeout, .internalServerError, .badGateway, .upstreamTimeout, .serviceUnavailable,
        .uriTooLong, .notImplemented,
    ]

    /// Snake codes whose UPPER spelling is not their upper-cased words (catalog: both mean SESSION_DISCONNECTED).
    private static let snakeAliases: [(String, String)] = [("session_not_connected", "SESSION_DISCONNECTED")]

    private enum Spelling { case snake, upper, other }

    /// `snake`: [a-z0-9] words joined by single underscores, starting with a letter; `upper`: the same in A-Z.
    private static func spelling(of code: String) -> Spelling {
        var sawLower = false, sawUpper = false, previousUnderscore = true
        for (index, b) in code.utf8.enumerated() {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): sawLower = true
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): sawUpper = true
            case UInt8(ascii: "0")...UInt8(ascii: "9") where index > 0: break
            case UInt8(ascii: "_") where !previousUnderscore: break
            default: return .other
            }
            previousUnderscore = b == UInt8(ascii: "_")
        }
        if previousUnderscore || sawLower == sawUpper { return .other }
        return sawLower ? .snake : .upper
    }

    private static func changeCase(_ code: String, from: UInt8, to: UInt8) -> String {
        String(decoding: code.utf8.map { $0 >= from && $0 < from + 26 ? $0 - from + to : $0 }, as: UTF8.self)
    }
}
