/// One link of the filter chain, in the shape of Envoy's HTTP filters: it sees the request head
/// (and may answer it, or wait for an asynchronous store), sees the upstream's response head
/// (and may add headers, or take the body over to rewrite it), and hears exactly once how the
/// exchange ended. New policies are new stages, not new branches in the exchange machine.
public protocol ExchangeStage: AnyObject {
    func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict
    /// The upstream's final (non-1xx) head, before any of it reaches the client.
    func onResponseHead(_ head: ResponseHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> ResponseVerdict
    /// Once for every request this stage let through (`proceed` or `answerAfterBody`).
    func onComplete(_ context: RequestContext, end: ExchangeEnd)
}

extension ExchangeStage {
    public func onResponseHead(_ head: ResponseHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> ResponseVerdict {
        .continue
    }

    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {}
}

public enum StageVerdict {
    case proceed
    /// Answer with this error; the request goes no further.
    case reject(GatewayError)
    /// Wait for an asynchronous answer (a store round trip): the exchange machine keeps the head,
    /// serves other connections, and continues with `admissionResumed` once the answer is in.
    case suspend
    /// This stage answers the request itself once the body has been read (not forwarded).
    case answerAfterBody(any BodyAnsweringStage)
}

public enum ResponseVerdict {
    case `continue`
    /// Collect up to `limit` body bytes instead of relaying them, then let `rewriter` answer.
    case collect(limit: Int, rewriter: any ResponseRewritingStage)
}

/// A stage that answers a request from its body: the idempotency store replays or refuses.
public protocol BodyAnsweringStage: ExchangeStage {
    func answer(afterBody context: RequestContext) -> LocalAnswer
}

/// A stage that replaces an upstream answer it collected: the error stage's canonical envelope.
/// `body` is nil when the answer did not fit in the limit or was cut short.
public protocol ResponseRewritingStage: ExchangeStage {
    func rewrite(collected body: [UInt8]?, context: RequestContext) -> RenderedError
}

public enum LocalAnswer {
    case error(GatewayError)
    /// A stored response, replayed byte for byte.
    case replay(StoredResponse)
}

/// How an exchange ended, for the stages' `onComplete`.
public struct ExchangeEnd: Sendable, Equatable {
    public var outcome: ExchangeOutcome
    /// The exchange machine's one decision about what the upstream may have done.
    public var upstreamEffect: UpstreamEffect
    /// The whole request body was read (so its digest is complete).
    public var requestRead: Bool
    /// Wall-clock ms at the end.
    public var wallMillis: UInt64

    public init(outcome: ExchangeOutcome, upstreamEffect: UpstreamEffect = .none, requestRead: Bool = true, wallMillis: UInt64 = 0) {
        self.outcome = outcome
        self.upstreamEffect = upstreamEffect
        self.requestRead = requestRead
        self.wallMillis = wallMillis
    }
}

public enum UpstreamEffect: Sendable, Equatable {
    /// The whole request was read and its final answer relayed (or rewritten) in full.
    case answered
    /// The upstream may have acted on the request, but no complete answer came back.
    case unknown
    /// Nothing reached the upstream that it could have acted on.
    case none
}

/// How an exchange ended, for stages that hold resources until then.
public enum ExchangeOutcome: Sendable, Equatable {
    case rejected
    case completed(status: Int)
    case upstreamFailed
    case clientAborted
}
