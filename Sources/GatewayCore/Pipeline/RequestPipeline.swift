/// The filter chain, built once from the configuration and shared by all event loops (stages keep
/// their own thread-safe state). The route is found first; then the route's own chain runs: only
/// the stages that can act on that route (a public route without keys has no auth stage, a route
/// with `errors passthrough` no error stage, one without idempotency no key stage).
public final class RequestPipeline: @unchecked Sendable {
    public let routes: [CompiledRoute]
    public let upstreamNames: [String]
    public let vocabulary: ErrorVocabulary
    public let policies: ClientPolicies
    private let router: RouteStage
    private let challenge: AuthChallenge
    /// Each route's stages in order, by route index.
    let chains: [[any ExchangeStage]]

    /// `extraStages` run last on every route (a deployment's own policies, and tests). At a reload,
    /// `replacing` is the running pipeline: the client policies' state carries over from it.
    public init(config: GatewayConfig, idempotency: IdempotencyStage? = nil, extraStages: [any ExchangeStage] = [],
                replacing previous: RequestPipeline? = nil) {
        let names = config.upstreams.keys.sorted()
        upstreamNames = names
        routes = config.routes.enumerated().map {
            CompiledRoute(config: $1, upstreamIndex: names.firstIndex(of: $1.upstream)!, index: $0)
        }
        let policies = ClientPolicies(config: config.access, routes: config.routes, replacing: previous?.policies)
        self.policies = policies
        router = RouteStage(routes: routes)
        challenge = AuthChallenge(realm: config.access.authRealm)
        vocabulary = config.errors.vocabulary

        let plans = config.access.policies.map(\.limits)
        let (limitStore, entries) = Self.stores(config, policies, idempotency)
        let auth = AuthStage(policies: policies)
        let limits = LimitStage(policies: policies, store: limitStore, leaseMs: Self.leaseMs(config),
                                retryAfterDefault: config.errors.retryAfterDefaultSeconds)
        let keyStage = idempotency.flatMap { policy in
            entries.map { IdempotencyKeyStage(policy: policy, entries: $0, keys: policies.keys,
                                              retryAfterDefault: config.errors.retryAfterDefaultSeconds) }
        }
        let errors = UpstreamErrorStage(errors: config.errors, challenge: challenge)
        let anyRate = config.access.anonymousRate != nil || plans.contains { $0.rate != nil }
        let anyConcurrency = config.access.globalConcurrency != nil || plans.contains { $0.concurrency != nil }
        let anyQuota = plans.contains { $0.dailyQuota != nil }
        chains = routes.map { route in
            let r = route.config
            var chain: [any ExchangeStage] = []
            if r.auth == .required || policies.keys.count > 0 { chain.append(auth) }
            if r.rate != nil || anyRate || anyConcurrency || (r.quota != .off && anyQuota) { chain.append(limits) }
            if let keyStage, r.idempotency.mode != .off { chain.append(keyStage) }
            if r.errors != .passthrough { chain.append(errors) }
            return chain + extraStages
        }
    }

    /// The limit store and idempotency entries `store` names: this process's own, or Redis's.
    private static func stores(_ config: GatewayConfig, _ policies: ClientPolicies, _ idempotency: IdempotencyStage?)
        -> (any LimitStore, (any IdempotencyEntries)?) {
        switch config.store.backend {
        case .local:
            return (LocalLimitStore(policies: policies), idempotency?.store)
        case .redis:
            let inFlightMs = leaseMs(config)
            return (RedisLimitStore(policies: policies, failsOpen: config.store.limitsFailOpen, localGlobal: policies.concurrency),
                    idempotency.map { RedisIdempotencyEntries(limits: $0.config.limits, failsOpen: config.store.idempotencyFailOpen,
                                                              inFlightMs: inFlightMs) })
        }
    }

    /// By route index: the route's upstream `response_timeout` plus `LimitStage.leaseMarginMs`.
    private static func leaseMs(_ config: GatewayConfig) -> [Int64] {
        config.routes.map { (config.upstreams[$0.upstream]?.responseTimeoutMs ?? 30_000) + LimitStage.leaseMarginMs }
    }

    public enum Admission {
        case admitted
        case rejected(GatewayError)
        /// A stage is waiting for an asynchronous answer: call `resume` with it.
        case suspended
        case answerAfterBody(any BodyAnsweringStage)
    }

    /// Finds the route (404, 405, 413 when a declared length is already too long), then runs the
    /// route's chain. A rejection tells the stages that already admitted the request that it
    /// ended, so each stage hears `onComplete` exactly once for every request it let through.
    public func requestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> Admission {
        if case .reject(let error) = router.onRequestHead(head, bytes: bytes, context: context) { return .rejected(error) }
        return run(from: 0, head, bytes, context)
    }

    /// Continues the chain after the stage that suspended, with its answer.
    public func resume(with verdict: StageVerdict, _ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> Admission {
        apply(verdict, at: context.admittedStages, head, bytes, context)
    }

    private func run(from start: Int, _ head: RequestHead, _ bytes: UnsafePointer<UInt8>, _ context: RequestContext) -> Admission {
        let chain = chains[context.route!.index]
        var index = start
        while index < chain.count {
            let verdict = chain[index].onRequestHead(head, bytes: bytes, context: context)
            if case .proceed = verdict {
                context.admittedStages = index + 1
                index += 1
                continue
            }
            return apply(verdict, at: index, head, bytes, context)
        }
        return .admitted
    }

    private func apply(_ verdict: StageVerdict, at index: Int, _ head: RequestHead, _ bytes: UnsafePointer<UInt8>,
                       _ context: RequestContext) -> Admission {
        switch verdict {
        case .proceed:
            context.admittedStages = index + 1
            return run(from: index + 1, head, bytes, context)
        case .reject(let error):
            complete(context, end: ExchangeEnd(outcome: .rejected))
            return .rejected(error)
        case .suspend:
            context.admittedStages = index
            return .suspended
        case .answerAfterBody(let stage):
            context.admittedStages = index + 1
            return .answerAfterBody(stage)
        }
    }

    /// Asks the admitted stages, in order, about the upstream's head; the first that wants to
    /// collect the body for rewriting gets it.
    public func responseHead(_ head: ResponseHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> ResponseVerdict {
        guard let route = context.route else { return .continue }
        let chain = chains[route.index]
        // Indices, not `prefix`: no slice to build on every request.
        for index in 0..<min(context.admittedStages, chain.count) {
            if case .collect(let limit, let rewriter) = chain[index].onResponseHead(head, bytes: bytes, context: context) {
                return .collect(limit: limit, rewriter: rewriter)
            }
        }
        return .continue
    }

    /// Tells every stage that let the request through how it ended, last first, exactly once.
    public func complete(_ context: RequestContext, end: ExchangeEnd) {
        guard let route = context.route, context.admittedStages > 0 else { return }
        let chain = chains[route.index]
        let admitted = min(context.admittedStages, chain.count)
        context.admittedStages = 0
        for index in (0..<admitted).reversed() { chain[index].onComplete(context, end: end) }
    }

    /// The route and its chain as one call, for code that needs no suspension: nil when admitted.
    public func admit(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> GatewayError? {
        if case .rejected(let error) = requestHead(head, bytes: bytes, context: context) { return error }
        return nil
    }

    public func finish(_ context: RequestContext, outcome: ExchangeOutcome) {
        complete(context, end: ExchangeEnd(outcome: outcome))
    }

    public func render(_ error: GatewayError, context: RequestContext) -> RenderedError {
        var rendered = ErrorEnvelope.render(error, vocabulary: vocabulary, requestID: context.requestIDText)
        if rendered.status == 401 { rendered.wwwAuthenticate = challenge.header(for: error.kind) }
        return rendered
    }
}
