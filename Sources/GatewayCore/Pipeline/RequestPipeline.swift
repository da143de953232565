/// The ordered filter chain every request passes through, built once from the configuration and
/// shared by all event loops (stages keep their own thread-safe state).
public final class RequestPipeline: @unchecked Sendable {
    public let stages: [RequestStage]
    public let routes: [CompiledRoute]
    public let upstreamNames: [String]
    public let upstreamErrors: UpstreamErrorStage
    public let vocabulary: ErrorVocabulary
    public let policies: ClientPolicies
    private let challenge: AuthChallenge

    public init(config: GatewayConfig) {
        let names = config.upstreams.keys.sorted()
        upstreamNames = names
        routes = config.routes.enumerated().map {
            CompiledRoute(config: $1, upstreamIndex: names.firstIndex(of: $1.upstream)!, index: $0)
        }
        let policies = ClientPolicies(config: config.access, routes: config.routes)
        self.policies = policies
        stages = [RouteStage(routes: routes), AuthStage(policies: policies), RateLimitStage(policies: policies),
                  ConcurrencyStage(policies: policies), QuotaStage(policies: policies)]
        challenge = AuthChallenge(realm: config.access.authRealm)
        upstreamErrors = UpstreamErrorStage(errors: config.errors, challenge: challenge)
        vocabulary = config.errors.vocabulary
    }

    /// Runs the stages in order; on a rejection, stages that already admitted the request are
    /// told it ended, so each stage hears `finish` exactly once for every request it admitted.
    public func admit(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> GatewayError? {
        for (index, stage) in stages.enumerated() {
            if case .reject(let error) = stage.admit(head, bytes: bytes, context: context) {
                for admitted in stages[..<index].reversed() { admitted.finish(context, outcome: .rejected) }
                return error
            }
        }
        return nil
    }

    public func finish(_ context: RequestContext, outcome: ExchangeOutcome) {
        for stage in stages.reversed() { stage.finish(context, outcome: outcome) }
    }

    /// What a log line may say about the caller's key: a short fingerprint of its hash, never the key.
    public func keyFingerprint(_ context: RequestContext) -> String {
        context.apiKeyIdentity.map { policies.keys.fingerprint(of: $0) } ?? "-"
    }

    public func render(_ error: GatewayError, context: RequestContext) -> RenderedError {
        var rendered = ErrorEnvelope.render(error, vocabulary: vocabulary, requestID: context.requestIDText)
        if rendered.status == 401 { rendered.wwwAuthenticate = challenge.header(for: error.kind) }
        return rendered
    }
}
