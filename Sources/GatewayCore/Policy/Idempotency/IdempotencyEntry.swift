/// How a key's first request ended, once it has.
public enum SettledOutcome: Sendable {
    case stored(StoredResponse)
    /// Completed, but the response was over the size limit: the key is spent.
    case notReplayable
    /// The upstream never answered in time, or the gateway stopped mid-request: it may or may not
    /// have acted, so the key answers 409 until it expires and never executes a second time.
    case unknownOutcome
}

/// A settled key as one lookup saw it; immutable, so it can be resolved after the lock is gone.
public struct SettledEntry: Sendable {
    public let outcome: SettledOutcome
    /// nil only for an unknown outcome whose request body was never fully read.
    public let fingerprint: RequestFingerprint?
    /// Wall-clock milliseconds at which the entry expires and the key may execute again.
    public let deadline: UInt64

    var isUnknownOutcome: Bool {
        if case .unknownOutcome = outcome { return true }
        return false
    }
}

/// The ticket of the one request allowed to execute for a key; exactly one of `complete`,
/// `release` or `markUnknown` must be called with it.
public struct IdempotencyReservation: Sendable {
    public let key: IdempotencyCacheKey
    let token: UInt64
}

/// A store node's state: reserved by a request in flight (`deadline`: when the key would
/// expire as "outcome unknown" if the gateway stopped now), or settled.
enum EntryState {
    case inFlight(token: UInt64, deadline: UInt64)
    case settled(SettledEntry)
}
