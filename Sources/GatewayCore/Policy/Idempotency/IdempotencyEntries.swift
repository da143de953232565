/// Where Idempotency-Key entries live: this process's `IdempotencyStore` (`store local`, with its
/// journal), or Redis (`RedisIdempotencyEntries`), where every gateway instance sees the same
/// reservations and stored answers. The key stage asks either the same questions.
public protocol IdempotencyEntries: AnyObject, Sendable {
    /// Reserves `key` for this request, or finds who has it. `.later`: the question went through
    /// the request's `StoreLink`, and `lookup(from:)` reads the answer `stage` hears.
    func lookupOrReserve(_ key: IdempotencyCacheKey, context: RequestContext, stage: any StoreStage) -> IdempotencyAnswer
    /// The lookup a store reply carries (only for entries that answer `.later`); nil when the store
    /// could not answer (the failure policy decides).
    func lookup(from reply: StoreReply, key: IdempotencyCacheKey, context: RequestContext) -> IdempotencyStore.Lookup?
    /// The reservation's answer is kept for the `ttl` (as "not replayable" when too large).
    func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint, response: RecordedResponse,
                  now: UInt64, context: RequestContext)
    /// The upstream timed out, or the connection broke, after the whole request was sent. A
    /// non-idempotent request may then have been executed: releasing the key would let a retry
    /// execute it a second time, so the key stays locked for its whole `ttl` and retries get 409
    /// saying why. Stale answers are preferable to duplicate side effects (a message sent twice).
    /// `fingerprint` is nil if the body was not read to the end.
    func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64, context: RequestContext)
    /// The gateway rejected the request itself, the upstream failed before it could have acted
    /// (refused, reset before the request was fully sent), or the client went away first.
    func release(_ reservation: IdempotencyReservation, context: RequestContext)
    /// A request that left while waiting: free the key if the reply says it was reserved for it.
    func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink)
    /// How unavailability is answered: true lets the request through without a key.
    var failsOpen: Bool { get }
}

public enum IdempotencyAnswer {
    case now(IdempotencyStore.Lookup)
    case later
}

extension IdempotencyStore: IdempotencyEntries {
    public func lookupOrReserve(_ key: IdempotencyCacheKey, context: RequestContext, stage: any StoreStage) -> IdempotencyAnswer {
        .now(lookupOrReserve(key, now: context.wallMillis))
    }

    public func lookup(from reply: StoreReply, key: IdempotencyCacheKey, context: RequestContext) -> Lookup? { nil }

    public func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint, response: RecordedResponse,
                         now: UInt64, context: RequestContext) {
        complete(reservation, fingerprint: fingerprint, response: response, now: now)
    }

    public func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64, context: RequestContext) {
        markUnknown(reservation, fingerprint: fingerprint, now: now)
    }

    public func release(_ reservation: IdempotencyReservation, context: RequestContext) {
        release(reservation)
    }

    public func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {}

    public var failsOpen: Bool { false }
}
