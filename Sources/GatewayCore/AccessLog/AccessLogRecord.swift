/// One access log line's facts, gathered by the exchange machine as a request ends. Arrays here
/// are shared with the connection's state, not copied, and the configuration's names are indices
/// (the encoder holds them, escaped once): filling one allocates nothing.
public struct AccessLogRecord {
    /// Wall-clock ms when the request's head was read.
    public var wallMillis: UInt64 = 0
    public var requestID: [UInt8] = []
    public var client: [UInt8] = []
    /// The method then the normalised path (no query: it may carry secrets); empty for a request
    /// that never parsed.
    public var request: [UInt8] = []
    public var methodLength = 0
    /// The matched route's index (`RequestPipeline.routes`).
    public var route: Int?
    /// What the client was sent; 499 (nginx's convention) when it left before an answer started.
    public var status = 0
    /// The gateway's own error, when it answered with one (not an upstream error it rewrote).
    public var error: GatewayErrorKind?
    /// The first four bytes of the API key's SHA-256, as `KeyHash.fingerprint` prints them.
    public var keyFingerprint: UInt32?
    /// The group and server of the last upstream attempt (`RequestPipeline.upstreamNames`, balancer order).
    public var upstream: (group: Int, server: Int)?
    /// From starting the upstream attempt to its response head.
    public var upstreamMicros: UInt64?
    /// From the request head to the end of the answer.
    public var totalMicros: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var idempotency = IdempotencyOutcome.none
    /// What the tightest token bucket the request passed still holds.
    public var rateLimitRemaining: Int?

    public init() {}
}
