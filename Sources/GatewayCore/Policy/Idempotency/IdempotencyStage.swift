/// Idempotency-Key handling (issue 4) as calls the I/O makes around one exchange:
///
/// 1. `key`, then the entries' `lookupOrReserve`, after the pipeline admitted the request (route
///    and API key known), before any upstream work. `.proceed` holds the key's reservation: forward, feeding every body byte to a
///    `RequestFingerprinter`. `.awaitFingerprint` means the key has settled: read and hash the
///    body without forwarding it, then `resolve`, which replays or rejects; the upstream is never
///    contacted.
/// 2. With a reservation, exactly one of the entries' (`IdempotencyEntries`): `complete` once the
///    final response has been relayed and `isStored` says to keep it (else `release`), `release`
///    when the gateway answered itself or the upstream failed before answering, `markUnknown`
///    when the upstream timed out after the request was sent.
public final class IdempotencyStage: Sendable {
    public let config: IdempotencyConfig
    public let store: IdempotencyStore

    public init(config: IdempotencyConfig, store: IdempotencyStore) {
        self.config = config
        self.store = store
    }

    /// The stage for a configuration: with a journal path, opens the journal, restores and
    /// compacts it, and journals from then on. Fails only if the journal cannot be written at all.
    public static func start(config: IdempotencyConfig, now: UInt64) throws(JournalIOError) -> (IdempotencyStage, JournalLoadReport?) {
        guard let path = config.journalPath else {
            return (IdempotencyStage(config: config, store: IdempotencyStore(limits: config.limits)), nil)
        }
        let journal = IdempotencyJournal(storage: try JournalFile(path: path), policy: config.sync)
        let store = IdempotencyStore(limits: config.limits, journal: journal)
        let report = try JournalLoader.load(into: store, now: now)
        return (IdempotencyStage(config: config, store: store), report)
    }

    public enum Resolution: Sendable {
        /// Send it with `IdempotencyReplay.write`.
        case replay(StoredResponse)
        /// The conflict's envelope, and which conflict it is.
        case reject(GatewayError, IdempotencyOutcome)
    }

    /// What the request's Idempotency-Key field says, before any store is asked.
    public enum KeyCheck {
        case notApplicable
        case reject(GatewayError)
        case key([UInt8])
    }

    /// The key of a request this route and method take one for; `bytes` holds the head.
    public func key(route: CompiledRoute, head: RequestHead, bytes: UnsafePointer<UInt8>) -> KeyCheck {
        let policy = route.config.idempotency
        guard policy.mode != .off,
              policy.applies(to: UnsafeRawBufferPointer(start: bytes + head.methodStart, count: head.methodLength)) else {
            return .notApplicable
        }
        guard let field = head.facts.first(.idempotencyKey) else {
            return policy.mode == .required ? .reject(IdempotencyErrors.missingKey()) : .notApplicable
        }
        guard head.facts.count(.idempotencyKey) == 1 else { return .reject(IdempotencyErrors.repeatedKey()) }
        let value = UnsafeRawBufferPointer(start: bytes + Int(field.valueStart), count: Int(field.valueLength))
        guard let key = IdempotencyKeySyntax.parse(value) else { return .reject(IdempotencyErrors.invalidKey()) }
        return .key(key)
    }

    /// Decides from the entry the lookup saw, not a fresh lookup, so the body just hashed and
    /// discarded is never needed again. A different body is a conflict whatever the state.
    public func resolve(_ entry: SettledEntry, fingerprint: RequestFingerprint, now: UInt64) -> Resolution {
        if let first = entry.fingerprint, first != fingerprint {
            return .reject(IdempotencyErrors.fingerprintMismatch(status: config.conflictStatus), .requestMismatch)
        }
        switch entry.outcome {
        case .stored(let response):
            return .replay(response)
        case .notReplayable:
            return .reject(IdempotencyErrors.notReplayable(), .notReplayable)
        case .unknownOutcome:
            return .reject(IdempotencyErrors.outcomeUnknown(), .outcomeUnknown)
        }
    }

    /// A recorder bounded by `max_response_size`; feed it the final response as it is relayed.
    /// `requestID` is the X-Request-Id the response goes out with: replays carry it too.
    public func makeRecorder(requestID: [UInt8]) -> ResponseRecorder {
        ResponseRecorder(limit: config.limits.maxResponseSize, requestID: requestID)
    }

    /// 2xx and 4xx answers are the request's result and are kept; anything else (3xx, 5xx, and
    /// 408/425/429, which say the request was not processed) releases the key so a retry executes.
    public static func isStored(status: Int) -> Bool {
        switch status {
        case 408, 425, 429: return false
        case 200..<300, 400..<500: return true
        default: return false
        }
    }
}
