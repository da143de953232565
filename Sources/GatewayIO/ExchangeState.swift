import GatewayCore

/// Per-request progress of one client connection's exchange, reset for every request.
struct ExchangeState {
    // Request side
    /// Request head bytes still at the front of the client's input buffer (kept until they are
    /// no longer needed, so a connect failure or a stale pooled connection can be retried).
    var headLength = 0
    var method = HTTPMethod.get
    var clientVersion = HTTPVersion.http11
    var clientKeepAlive = true
    var requestDecoder = BodyDecoder(framing: .none)
    var upstreamFraming = BodyFraming.none
    var requestBodyDone = true
    /// Connected and the request head queued: the body may flow.
    var upstreamReady = false
    var groupIndex = 0
    var triedServers: UInt64 = 0
    var attempts = 0
    var reusedConnection = false
    var startedAt: UInt64 = 0
    var logPrefix = ""
    /// The pipeline already told its stages how this request ended (it rejected it).
    var stagesFinished = false
    /// Head and body have reached the upstream's socket: it may act on the request.
    var requestFullySent = false
    /// The upstream's write counter when this exchange got the connection.
    var upstreamWrittenAtStart: UInt64 = 0
    /// The upstream stopped reading after taking part of the request: it may be acting on it.
    var sendStalledAfterBytes = false
    var idempotency: IdempotencyExchange?

    // Response side
    var responsePhase = ClientConnection.ResponsePhase.awaitingHead
    var responseDecoder = BodyDecoder(framing: .none)
    var clientFraming = BodyFraming.none
    var responseStarted = false
    var closeAfterResponse = false
    var upstreamKeepAlive = false
    /// The status the client got (the upstream's, or the gateway's own answer's).
    var status = 0
    /// Answered from the idempotency store.
    var replayed = false
    /// A final response head came from the upstream.
    var upstreamAnswered = false
    var errorFacts: UpstreamErrorStage.HeadFacts?
    var collected: [UInt8] = []
    var collectLimit = 0
    var collectOverflow = false

    /// Safe to send again on a fresh connection: nothing about it can have taken effect twice.
    var retryableOnStaleConnection: Bool {
        method.isIdempotent && headLength > 0 && requestDecoder.isDone && attempts < 3
    }
}
