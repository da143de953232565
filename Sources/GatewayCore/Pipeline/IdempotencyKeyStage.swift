/// The Idempotency-Key in the filter chain (the protocol is documented on `IdempotencyStage`):
/// a first request holds the key's reservation while its body is hashed and its answer copied as
/// they stream, and settles it by what the upstream did; a retry of a settled key is answered
/// from the entries once its body has been hashed, without reaching the upstream. The entries
/// live in this process or in a shared store (`IdempotencyEntries`); with a shared store the
/// reservation is a round trip, during which the request waits without holding up the loop.
public final class IdempotencyKeyStage: BodyAnsweringStage, StoreStage {
    private let policy: IdempotencyStage
    private let entries: any IdempotencyEntries
    private let keys: KeyDirectory
    private let retryAfterDefault: Int

    public init(policy: IdempotencyStage, entries: any IdempotencyEntries, keys: KeyDirectory, retryAfterDefault: Int) {
        self.policy = policy
        self.entries = entries
        self.keys = keys
        self.retryAfterDefault = retryAfterDefault
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        switch policy.key(route: context.route!, head: head, bytes: bytes) {
        case .notApplicable:
            return .proceed
        case .reject(let error):
            return .reject(error)
        case .key(let key):
            let cacheKey = context.withIdempotencyCaller(keys) { IdempotencyCacheKey(caller: $0, routePrefix: context.route!.config.prefix, key: key) }
            // Created only for keyed requests: a digest context costs an allocation and OpenSSL locks.
            context.requestDigest = RequestFingerprinter(
                method: UnsafeRawBufferPointer(start: bytes + head.methodStart, count: head.methodLength),
                path: UnsafeRawBufferPointer(start: bytes + head.targetStart, count: head.targetLength))
            switch entries.lookupOrReserve(cacheKey, context: context, stage: self) {
            case .now(let lookup):
                return decide(lookup, context)
            case .later:
                context.idempotency = .pending(cacheKey)
                return .suspend
            }
        }
    }

    public func storeReplied(_ reply: StoreReply, context: RequestContext) -> StageVerdict {
        guard case .pending(let key) = context.idempotency else {
            return .reject(GatewayError(.internalServerError, "Idempotency state lost"))
        }
        context.idempotency = nil
        if let lookup = entries.lookup(from: reply, key: key, context: context) { return decide(lookup, context) }
        context.requestDigest = nil
        return entries.failsOpen ? .proceed : .reject(PolicyErrors.storeUnavailable(retryAfterSeconds: retryAfterDefault))
    }

    public func storeAbandoned(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {
        entries.abandon(reply, undo: undo, link: link)
    }

    private func decide(_ lookup: IdempotencyStore.Lookup, _ context: RequestContext) -> StageVerdict {
        switch lookup {
        case .reserved(let reservation):
            context.idempotency = .reserved(reservation)
            context.responseCopy = policy.makeRecorder(requestID: context.requestID)
            return .proceed
        case .inFlight:
            // The first request with the key is still in flight.
            context.idempotencyOutcome = .inProgress
            context.requestDigest = nil
            return .reject(IdempotencyErrors.inFlight())
        case .settled(let entry):
            context.idempotency = .settled(entry)
            return .answerAfterBody(self)
        }
    }

    /// Decides from the entry `onRequestHead` saw, so the body just hashed is never needed again.
    public func answer(afterBody context: RequestContext) -> LocalAnswer {
        guard case .settled(let entry) = context.idempotency, let digest = context.requestDigest else {
            return .error(GatewayError(.internalServerError, "Idempotency state lost"))
        }
        context.idempotency = nil
        switch policy.resolve(entry, fingerprint: digest.finish(), now: context.wallMillis) {
        case .replay(let stored):
            context.idempotencyOutcome = .replayed
            return .replay(stored)
        case .reject(let error, let conflict):
            context.idempotencyOutcome = conflict
            return .error(error)
        }
    }

    /// Settles a reservation: the relayed answer is stored (2xx and 4xx) or released; a request
    /// the upstream may have acted on without answering locks the key as "outcome unknown";
    /// anything else releases it.
    public func onComplete(_ context: RequestContext, end: ExchangeEnd) {
        guard case .reserved(let reservation) = context.idempotency, let digest = context.requestDigest else { return }
        context.idempotency = nil
        switch end.upstreamEffect {
        case .answered:
            let response = context.responseCopy?.finish() ?? .notReplayable(status: 0)
            if IdempotencyStage.isStored(status: response.status) {
                entries.complete(reservation, fingerprint: digest.finish(), response: response, now: end.wallMillis, context: context)
                context.idempotencyOutcome = .stored
            } else {
                entries.release(reservation, context: context)
                context.idempotencyOutcome = .released
            }
        case .unknown:
            entries.markUnknown(reservation, fingerprint: end.requestRead ? digest.finish() : nil, now: end.wallMillis, context: context)
            context.idempotencyOutcome = .markedUnknown
        case .none:
            entries.release(reservation, context: context)
            context.idempotencyOutcome = .released
        }
    }
}

/// The idempotency key's state between its stage's calls for one request.
enum IdempotencyHold {
    /// Asked of a shared store; the reply has not come yet.
    case pending(IdempotencyCacheKey)
    case reserved(IdempotencyReservation)
    case settled(SettledEntry)
}
