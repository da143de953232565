/// What the Idempotency-Key did for one request, noted on the context by its stage for the access
/// log and the metrics.
public enum IdempotencyOutcome: Int, CaseIterable, Sendable {
    /// No key, or the route or method does not use one.
    case none
    /// The answer was kept for the key's `ttl` (replayable, or too large to replay).
    case stored
    /// The key was held, then freed: the answer is not one to keep (5xx, 429, ...) or nothing reached the upstream.
    case released
    /// The key was held and the upstream may have acted without answering: it is locked until its `ttl` ends.
    case markedUnknown
    /// Answered from the store.
    case replayed
    /// 409s (or the configured 422) for a reused key, by `details.reason`.
    case requestMismatch, inProgress, notReplayable, outcomeUnknown

    /// The access log's `idempotency` field.
    public var logValue: StaticString {
        switch self {
        case .none: "none"
        case .stored: "stored"
        case .released: "released"
        case .markedUnknown: "outcome_unknown"
        case .replayed: "replayed"
        case .requestMismatch, .inProgress, .notReplayable, .outcomeUnknown: "conflict"
        }
    }

    /// `details.reason` of the conflict envelope, and the metric's `reason` label.
    public var conflictReason: String? {
        switch self {
        case .requestMismatch: "request_mismatch"
        case .inProgress: "in_progress"
        case .notReplayable: "not_replayable"
        case .outcomeUnknown: "outcome_unknown"
        default: nil
        }
    }
}
