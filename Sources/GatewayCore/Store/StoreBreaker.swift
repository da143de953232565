/// The circuit breaker in front of one connection to the shared store. Closed: commands go to
/// Redis. A failure (refused connect, timeout, broken connection, failed handshake) opens it:
/// commands fail at once, each answered by the failure policy, so a dead or hung Redis costs
/// the requests in flight at that moment one timeout, not every request after them. At
/// `retryAt` one reconnection is tried (half-open, commands still fail at once); its success
/// closes the breaker, its failure opens it again for longer: from 100 ms, doubling, up to the
/// configured interval, with jitter so loops and instances do not retry in step. Pure: the
/// caller brings the time and the randomness.
public struct StoreBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        case open(retryAt: UInt64)
        case halfOpen
    }

    public private(set) var state = State.closed
    /// Failures since the breaker last closed.
    public private(set) var failures = 0
    public let maxIntervalMs: UInt64
    static let firstIntervalMs: UInt64 = 100

    public init(maxIntervalMs: UInt64) {
        self.maxIntervalMs = max(maxIntervalMs, Self.firstIntervalMs)
    }

    public var allowsCommands: Bool { state == .closed }

    /// The wait after the `failures`-th failure in a row, before jitter.
    public var intervalMs: UInt64 {
        let doublings = UInt64(min(max(failures - 1, 0), 20))
        return min(maxIntervalMs, Self.firstIntervalMs << doublings)
    }

    /// Opens (or re-opens) the breaker; `jitter` in 0...1 takes up to half the interval off.
    public mutating func failed(now: UInt64, jitter: Double) {
        failures += 1
        let interval = intervalMs
        state = .open(retryAt: now + interval - UInt64(Double(interval / 2) * min(max(jitter, 0), 1)))
    }

    /// Whether a reconnection should start now; if so the breaker is half-open until it ends.
    public mutating func shouldProbe(now: UInt64) -> Bool {
        guard case .open(let retryAt) = state, now >= retryAt else { return false }
        state = .halfOpen
        return true
    }

    public mutating func succeeded() {
        state = .closed
        failures = 0
    }
}
