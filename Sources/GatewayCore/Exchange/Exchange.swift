/// Facts about the request in flight and its progress, reset for every request. Phases are the
/// machine's `State`; what lives here is data: framing, decoders, the servers tried, the answer.
struct Exchange {
    /// Request head bytes still at the front of the client's input buffer (kept until the body
    /// needs the room, so a connect failure or a stale pooled connection can send it again).
    var headLength = 0
    var method = HTTPMethod.get
    var clientVersion = HTTPVersion.http11
    /// The client allows keep-alive and `keepalive_requests` is not reached.
    var clientKeepAlive = true
    var requestDecoder = BodyDecoder(framing: .none)
    var upstreamFraming = BodyFraming.none
    /// Index of the route's upstream group.
    var group = 0
    var triedServers: UInt64 = 0
    /// The server of the current attempt.
    var server: UpstreamBalancer.Server?
    var attempts = 0
    /// Why the last TLS handshake with a server failed, for the 502 when no server is left.
    var handshakeFailure: String?
    var startedAt: UInt64 = 0
    var lastBodyProgress: UInt64 = 0
    /// The moment the response timeout counts from while the whole request is with the upstream.
    var upstreamWaitSince: UInt64 = 0
    /// The upstream connection's write counter when this exchange got it.
    var upstreamWrittenAtStart: UInt64 = 0
    /// The client's Upgrade field, when its route lets that protocol through: forwarded, and a 101
    /// then turns the exchange into a tunnel.
    var upgrade: HeaderField?
    /// Last bytes through the tunnel: it closes after `response_timeout` without any.
    var tunnelActivity: UInt64 = 0

    // What the access log and the metrics report (kept only while something observes)
    /// Begun and not yet reported.
    var observed = false
    var startedMicros: UInt64 = 0
    var upstreamStartedMicros: UInt64 = 0
    /// From the first upstream attempt to the response head.
    var upstreamMicros: UInt64?
    var headBytes: UInt64 = 0
    /// Bytes the client sent through a tunnel (after a 101).
    var tunnelledIn: UInt64 = 0
    /// The client connection's write counter when the request's head was read.
    var clientWrittenAtStart: UInt64 = 0
    /// The gateway's own error, when it answered with one.
    var errorKind: GatewayErrorKind?

    // The answer
    /// Decided once, when the response head is written (`decideKeepAlive`).
    var keepAlive = false
    /// The status the client got (the upstream's, or the gateway's own answer's).
    var status = 0
    var upstreamKeepAlive = false
    var responseDecoder = BodyDecoder(framing: .none)
    var clientFraming = BodyFraming.none
    var collected: [UInt8] = []
    var collectLimit = 0
    var collectOverflow = false
}
