/// The response side of the chain: upstream 4xx/5xx answers are collected (up to the rewrite
/// buffer) and answered with the canonical envelope instead. 1xx-3xx always stream untouched,
/// and a route with `errors passthrough` never runs this stage.
public final class UpstreamErrorStage: ResponseRewritingStage, Sendable {
    private let translator: UpstreamErrorTranslator
    private let bufferLimit: Int
    private let challenge: AuthChallenge

    public init(errors: ErrorsConfig, challenge: AuthChallenge) {
        translator = UpstreamErrorTranslator(vocabulary: errors.vocabulary, overrides: errors.overrides,
                                             retryAfterDefaultSeconds: errors.retryAfterDefaultSeconds)
        bufferLimit = errors.rewriteBufferSize
        self.challenge = challenge
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        .proceed
    }

    public func onResponseHead(_ head: ResponseHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> ResponseVerdict {
        if head.status < 400 { return .continue }
        context.upstreamErrorFacts = inspect(head, headBytes: bytes, context: context)
        return .collect(limit: bufferLimit, rewriter: self)
    }

    public func rewrite(collected body: [UInt8]?, context: RequestContext) -> RenderedError {
        rewrite(context.upstreamErrorFacts!, body: body, context: context)
    }

    /// What the rewrite needs from the response head, taken before the head's bytes are released.
    public struct HeadFacts: Sendable {
        public var status: Int
        public var isJSON: Bool
        public var retryAfterSeconds: Int?
        /// The upstream's own challenge(s) on a 401, combined into one list value.
        public var wwwAuthenticate: String?
    }

    public func inspect(_ head: ResponseHead, headBytes p: UnsafePointer<UInt8>, context: RequestContext) -> HeadFacts {
        var facts = HeadFacts(status: head.status, isJSON: false, retryAfterSeconds: nil)
        if let type = head.facts.first(.contentType) {
            facts.isJSON = Self.isJSONMediaType(p + Int(type.valueStart), Int(type.valueLength))
        }
        if let field = head.facts.first(.retryAfter) {
            let value = UnsafeRawBufferPointer(start: p + Int(field.valueStart), count: Int(field.valueLength))
            facts.retryAfterSeconds = RetryAfter.seconds(from: value, nowEpochSeconds: Int64(context.wallMillis / 1000))
        }
        if head.status == 401 {
            for field in head.facts.fields where Bytes.equalsLowercase(p + Int(field.nameStart), Int(field.nameLength), "www-authenticate") {
                let value = String(decoding: UnsafeBufferPointer(start: p + Int(field.valueStart), count: Int(field.valueLength)), as: UTF8.self)
                facts.wwwAuthenticate = facts.wwwAuthenticate.map { $0 + ", " + value } ?? value
            }
        }
        return facts
    }

    /// `body` is nil when the upstream's body did not fit in the rewrite buffer. A 401 sent on keeps
    /// the upstream's challenge, which names its own scheme and realm; without one it gets ours,
    /// with no error code since the gateway cannot tell why the upstream refused.
    public func rewrite(_ facts: HeadFacts, body: [UInt8]?, context: RequestContext) -> RenderedError {
        var rendered = translator.translate(status: facts.status, body: body, isJSON: facts.isJSON,
                                            upstreamRetryAfter: facts.retryAfterSeconds, requestID: context.requestIDText)
        if rendered.status == 401 { rendered.wwwAuthenticate = facts.wwwAuthenticate ?? challenge.realmOnly }
        return rendered
    }

    /// application/json or any `+json` structured suffix, parameters ignored.
    static func isJSONMediaType(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var end = 0
        while end < n && p[end] != UInt8(ascii: ";") && p[end] != 0x20 && p[end] != 0x09 { end += 1 }
        if Bytes.equalsLowercase(p, end, "application/json") { return true }
        return end >= 5 && Bytes.equalsLowercase(p + end - 5, 5, "+json")
    }
}
