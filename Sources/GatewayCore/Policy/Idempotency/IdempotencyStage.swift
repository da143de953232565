/// Idempotency-Key handling (issue 4) as calls the I/O makes around one exchange:
///
/// 1. `begin` after the pipeline admitted the request (route and API key known), before any
///    upstream work. `.proceed` holds the key's reservation: forward, feeding every body byte to a
///    `RequestFingerprinter`. `.awaitFingerprint` means the key has settled: read and hash the
///    body without forwarding it, then `resolve`, which replays or rejects; the upstream is never
///    contacted.
/// 2. With a reservation, exactly one of: `complete` once the final response has been relayed
///    (it stores or releases by status), `release` when the gateway answered itself or the
///    upstream failed before answering, `markUnknown` when the upstream timed out after the
///    request was sent.
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

    public enum Decision: Sendable {
        /// Not an idempotent-keyed request on this route: nothing more to do.
        case notApplicable
        case reject(GatewayError)
        case proceed(IdempotencyReservation)
        /// The key has settled; the answer depends on whether this body matches the first one.
        case awaitFingerprint(SettledEntry)
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

    /// `caller` names the namespace (API key, else client address); `bytes` holds the head.
    public func begin(caller: IdempotencyCaller, route: CompiledRoute, head: RequestHead,
                      bytes: UnsafePointer<UInt8>, now: UInt64) -> Decision {
        switch key(route: route, head: head, bytes: bytes) {
        case .notApplicable: return .notApplicable
        case .reject(let error): return .reject(error)
        case .key(let key): return Self.decision(store.lookupOrReserve(IdempotencyCacheKey(caller: caller, routePrefix: route.config.prefix, key: key), now: now))
        }
    }

    static func decision(_ lookup: IdempotencyStore.Lookup) -> Decision {
        switch lookup {
        case .reserved(let reservation): .proceed(reservation)
        case .inFlight: .reject(IdempotencyErrors.inFlight())
        case .settled(let entry): .awaitFingerprint(entry)
        }
    }

    /// Decides from the entry `begin` saw, not a fresh lookup, so the body just hashed and
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

    /// The final response was relayed in full. 2xx and 4xx answers are the request's result and
    /// are kept; anything else (3xx, 5xx, and 408/425/429, which say the request was not
    /// processed) releases the key so a retry executes. True when kept.
    @discardableResult
    public func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint,
                         response: RecordedResponse, now: UInt64) -> Bool {
        guard Self.isStored(status: response.status) else {
            store.release(reservation)
            return false
        }
        store.complete(reservation, fingerprint: fingerprint, response: response, now: now)
        return true
    }

    /// The gateway rejected the request itself, the upstream failed before it could have acted
    /// (refused, reset before the request was fully sent), or the client went away first.
    public func release(_ reservation: IdempotencyReservation) {
        store.release(reservation)
    }

    /// The upstream timed out, or the connection broke, after the whole request was sent. A
    /// non-idempotent request may then have been executed: releasing the key would let a retry
    /// execute it a second time, so the key stays locked for its whole `ttl` and retries get 409
    /// saying why. Stale answers are preferable to duplicate side effects (a message sent twice).
    /// `fingerprint` is nil if the body was not read to the end.
    public func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64) {
        store.markUnknown(reservation, fingerprint: fingerprint, now: now)
    }

    public static func isStored(status: Int) -> Bool {
        switch status {
        case 408, 425, 429: return false
        case 200..<300, 400..<500: return true
        default: return false
        }
    }
}
