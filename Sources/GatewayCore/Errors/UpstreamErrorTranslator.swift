/// Rewrites an upstream's 4xx/5xx answer into the gateway's envelope (README, "Error reference": how upstream answers are rewritten).
public struct UpstreamErrorTranslator: Sendable {
    public let codes: ErrorCodeTranslator
    public let retryAfterDefaultSeconds: Int

    public init(vocabulary: ErrorVocabulary, overrides: [ErrorCodeOverride], retryAfterDefaultSeconds: Int) {
        self.codes = ErrorCodeTranslator(vocabulary: vocabulary, overrides: overrides)
        self.retryAfterDefaultSeconds = min(max(retryAfterDefaultSeconds, 0), RetryAfter.maxSeconds)
    }

    /// Rewrites an upstream 4xx/5xx response.
    /// - body: the collected body, or nil when it was larger than the rewrite buffer (then the generic envelope).
    /// - isJSON: whether Content-Type was application/json or */*+json; other bodies are never parsed.
    /// - upstreamRetryAfter: already-normalised seconds from the upstream's Retry-After, if any.
    /// Retry-After: statuses in the retry class (429 and 5xx but 501/505/510) always carry one (the upstream's, else the
    /// default); other statuses only the upstream's.
    public func translate(status: Int, body: [UInt8]?, isJSON: Bool, upstreamRetryAfter: Int?, requestID: String) -> RenderedError {
        if isJSON, let body, let upstream = UpstreamError(parsing: body) {
            let (code, finalStatus) = codes.translate(upstream.code, status: status)
            let retry = retryAfter(status: finalStatus, upstream: upstreamRetryAfter ?? upstream.retryAfterSeconds)
            return RenderedError(
                status: finalStatus, retryAfterSeconds: retry,
                body: ErrorEnvelope.encode(code: code, message: upstream.message, details: upstream.details,
                                           retryAfterSeconds: retry, requestID: requestID))
        }
        // Nothing usable: the status is kept (it is the upstream's answer), the body replaced by the catalog's row for it.
        let kind = GatewayErrorKind.forUpstreamStatus(status)
        let retry = retryAfter(status: status, upstream: upstreamRetryAfter)
        return RenderedError(
            status: status, retryAfterSeconds: retry,
            body: ErrorEnvelope.encode(code: kind.code(in: codes.vocabulary), message: "Upstream returned HTTP " + String(status),
                                       details: [("upstream_status", .int(status))], retryAfterSeconds: retry, requestID: requestID))
    }

    private func retryAfter(status: Int, upstream: Int?) -> Int? {
        let upstream = upstream.map { min(max($0, 0), RetryAfter.maxSeconds) }
        // The catalog's retry class of the status sent: rate limits and the 5xx a later attempt may get past.
        let retryable = status == 429 || (500...599).contains(status) && GatewayErrorKind.forUpstreamStatus(status).retryable
        return retryable ? upstream ?? retryAfterDefaultSeconds : upstream
    }
}

/// The parts of an upstream error body in either family's shape:
/// `{"success":false,"error":{"code":..,"message":..,"details":..}}` or `{"error":{"code":..,"message":..}}`.
private struct UpstreamError {
    var code: String
    var message: String
    var details: [(String, ErrorDetail)]
    /// `details.retry_after_s`, the upstream's own hint when it sent no header.
    var retryAfterSeconds: Int?

    init?(parsing body: [UInt8]) {
        guard let root = JSONValue.parse(body), let error = root["error"],
              let code = error["code"]?.stringValue, !code.isEmpty,
              let message = error["message"]?.stringValue else { return nil }
        if let success = root["success"], success != .bool(false) { return nil }
        self.code = code
        self.message = message
        switch error["details"] {
        case nil, .null?:
            details = []
        case .object(let members)?:
            details = members.map { ($0.0, .rawJSON($0.1.serialized())) }
            retryAfterSeconds = error["details"]?[ErrorEnvelope.retryAfterKey]?.intValue
        case let other?:
            // The envelope's details is always an object; a bare upstream value is kept under one key.
            details = [("upstream_details", .rawJSON(other.serialized()))]
        }
    }
}
