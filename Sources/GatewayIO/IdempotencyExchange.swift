import GatewayCore

/// The Idempotency-Key side of one exchange: either this request holds the key's reservation
/// (forward it, record the answer), or the key has settled (hash the body, then replay or refuse).
struct IdempotencyExchange {
    enum Mode {
        case reserved(IdempotencyReservation, ResponseRecorder)
        case replaying(SettledEntry)
    }

    var mode: Mode
    let fingerprinter: RequestFingerprinter

    var recorder: ResponseRecorder? {
        if case .reserved(_, let recorder) = mode { return recorder }
        return nil
    }

    var isReplaying: Bool {
        if case .replaying = mode { return true }
        return false
    }
}
