/// The Idempotency-Key in the filter chain (the protocol is documented on `IdempotencyStage`):
/// a first request holds the key's reservation while its body is hashed and its answer copied as
/// they stream, and settles it by what the upstream did; a retry of a settled key is answered
/// from the store once its body has been hashed, without reaching the upstream.
public final class IdempotencyKeyStage: BodyAnsweringStage {
    private let store: IdempotencyStage
    private let keys: KeyDirectory

    public init(store: IdempotencyStage, keys: KeyDirectory) {
        self.store = store
        self.keys = keys
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        let decision = context.withIdempotencyCaller(keys) { caller in
            store.begin(caller: caller, route: context.route!, head: head, bytes: bytes, now: context.wallMillis)
        }
        // Created only for keyed requests: a digest context costs an allocation and OpenSSL locks.
        func digest() -> RequestFingerprinter {
            RequestFingerprinter(method: UnsafeRawBufferPointer(start: bytes + head.methodStart, count: head.methodLength),
                                 path: UnsafeRawBufferPointer(start: bytes + head.targetStart, count: head.targetLength))
        }
        switch decision {
        case .notApplicable:
            return .proceed
        case .reject(let error):
            // The one conflict `begin` answers: the first request with the key is still in flight.
            if error.kind == .idempotencyConflict { context.idempotencyOutcome = .inProgress }
            return .reject(error)
        case .proceed(let reservation):
            context.idempotency = .reserved(reservation)
            context.requestDigest = digest()
            context.responseCopy = store.makeRecorder(requestID: context.requestID)
            return .proceed
        case .awaitFingerprint(let entry):
            context.idempotency = .settled(entry)
            context.requestDigest = digest()
            return .answerAfterBody(self)
        }
    }

    /// Decides from the entry `onRequestHead` saw, so the body just hashed is never needed again.
    public func answer(afterBody context: RequestContext) -> LocalAnswer {
        guard case .settled(let entry) = context.idempotency, let digest = context.requestDigest else {
            return .error(GatewayError(.internalServerError, "Idempotency state lost"))
        }
        context.idempotency = nil
        switch store.resolve(entry, fingerprint: digest.finish(), now: context.wallMillis) {
        case .replay(let stored):
            context.idempotencyOutcome = .replayed
            return .replay(stored)
        case .reject(let error, let conflict):
            context.idempotencyOutcome = conflict
            return .error(error)
        }
    }

    /// Settles a reservation: the relayed answer is stored (or released, by status); a request the
    /// upstream may have acted on without answering locks the key as "outcome unknown"; anything
    /// else releases it.
    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {
        guard case .reserved(let reservation) = context.idempotency, let digest = context.requestDigest else { return }
        context.idempotency = nil
        switch end.upstreamEffect {
        case .answered:
            let response = context.responseCopy?.finish() ?? .notReplayable(status: 0)
            let kept = store.complete(reservation, fingerprint: digest.finish(), response: response, now: end.wallMillis)
            context.idempotencyOutcome = kept ? .stored : .released
        case .unknown:
            store.markUnknown(reservation, fingerprint: end.requestRead ? digest.finish() : nil, now: end.wallMillis)
            context.idempotencyOutcome = .markedUnknown
        case .none:
            store.release(reservation)
            context.idempotencyOutcome = .released
        }
    }
}

/// The idempotency key's state between its stage's calls for one request.
enum IdempotencyHold {
    case reserved(IdempotencyReservation)
    case settled(SettledEntry)
}
