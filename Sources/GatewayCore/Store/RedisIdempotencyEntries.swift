/// Idempotency-Key entries in Redis, seen alike by every gateway instance. The reservation is one
/// `SET key value NX PX ttl GET`: it reserves a free key, or (not setting anything) returns the
/// value of a taken one, in one round trip. A value is a reservation (the request is in flight
/// until a moment) or a settled entry in the journal's record layout (stored answer, completed
/// but too large, outcome unknown). Settling writes the entry over the reservation with the
/// `ttl`; releasing deletes it.
///
/// A reservation names when its request stops being "in flight": the route's `response_timeout`
/// plus a margin from the moment it was made. A gateway that dies with a request in flight never
/// settles it; once that moment has passed, the key answers "outcome unknown" (409, no
/// Retry-After) for the rest of its `ttl`, as a local journal does after a crash. The request is
/// never sent a second time.
public final class RedisIdempotencyEntries: IdempotencyEntries {
    private let limits: IdempotencyLimits
    public let failsOpen: Bool
    /// By route index: how long a reservation counts as in flight.
    private let inFlightMs: [Int64]

    public init(limits: IdempotencyLimits, failsOpen: Bool, inFlightMs: [Int64]) {
        self.limits = limits
        self.failsOpen = failsOpen
        self.inFlightMs = inFlightMs
    }

    public func lookupOrReserve(_ key: IdempotencyCacheKey, context: RequestContext, stage: any StoreStage) -> IdempotencyAnswer {
        guard let link = context.storeLink else { return .now(.inFlight) }
        let name = IdempotencyValue.name(key)
        let reservation = IdempotencyValue.reservation(inFlightUntil: context.wallMillis + UInt64(inFlightMs[context.route!.index]))
        var command = RESPCommand(arguments: 7, capacity: name.count + 64)
        command.append("SET".utf8)
        command.append(name)
        command.append(reservation)
        command.append("NX".utf8)
        command.append("PX".utf8)
        command.append(Int64(limits.ttlMs))
        command.append("GET".utf8)
        link.send(command, slot: ClusterSlot.slot(name), for: stage, context: context, undo: name)
        return .later
    }

    public func lookup(from reply: StoreReply, key: IdempotencyCacheKey, context: RequestContext) -> IdempotencyStore.Lookup? {
        guard case .value(let value) = reply else { return nil }
        switch value {
        case .null: return .reserved(IdempotencyReservation(key: key, token: 0))
        case .bulk(let bytes): return IdempotencyValue.lookup(bytes, key: key, now: context.wallMillis)
        default: return nil
        }
    }

    public func complete(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint, response: RecordedResponse,
                         now: UInt64, context: RequestContext) {
        var outcome = SettledOutcome.notReplayable
        if case .replayable(let stored) = response { outcome = .stored(stored) }
        settle(reservation, SettledEntry(outcome: outcome, fingerprint: fingerprint, deadline: now &+ limits.ttlMs), context)
    }

    public func markUnknown(_ reservation: IdempotencyReservation, fingerprint: RequestFingerprint?, now: UInt64, context: RequestContext) {
        settle(reservation, SettledEntry(outcome: .unknownOutcome, fingerprint: fingerprint, deadline: now &+ limits.ttlMs), context)
    }

    public func release(_ reservation: IdempotencyReservation, context: RequestContext) {
        guard let link = context.storeLink else { return }
        let name = IdempotencyValue.name(reservation.key)
        link.post(Self.delete(name), slot: ClusterSlot.slot(name))
    }

    /// The key was reserved for a request that is gone: free it.
    public func abandon(_ reply: StoreReply, undo: [UInt8], link: any StoreLink) {
        guard case .value(.null) = reply else { return }
        link.post(Self.delete(undo), slot: ClusterSlot.slot(undo))
    }

    private func settle(_ reservation: IdempotencyReservation, _ entry: SettledEntry, _ context: RequestContext) {
        guard let link = context.storeLink else { return }
        let name = IdempotencyValue.name(reservation.key)
        let value = IdempotencyValue.settled(reservation.key, entry)
        var command = RESPCommand(arguments: 5, capacity: name.count + value.count + 48)
        command.append("SET".utf8)
        command.append(name)
        command.append(value)
        command.append("PX".utf8)
        command.append(Int64(limits.ttlMs))
        link.post(command, slot: ClusterSlot.slot(name))
    }

    private static func delete(_ name: [UInt8]) -> RESPCommand {
        var command = RESPCommand(arguments: 2)
        command.append("DEL".utf8)
        command.append(name)
        return command
    }
}

/// The layout of an idempotency entry in Redis, and its key's name.
public enum IdempotencyValue {
    static let reservedKind: UInt8 = 1
    static let settledKind: UInt8 = 2

    /// `gw:{<tag>}:idem:` and the packed cache key (caller, route prefix, Idempotency-Key); the
    /// tag is the caller's, as its limits use it.
    public static func name(_ key: IdempotencyCacheKey) -> [UInt8] {
        var prefix: [UInt8] = []
        let identity = key.bytes.count >= 2 ? key.bytes[2..<min(key.bytes.count, 2 + Int(key.bytes[1]))] : []
        identity.withUnsafeBytes { bytes in
            if key.bytes.first == 1 {
                StoreKeys.prefix(apiKeyDigest: bytes, into: &prefix)
            } else {
                StoreKeys.prefix(clientAddress: bytes, into: &prefix)
            }
        }
        return prefix + StoreKeys.idempotency + key.bytes
    }

    /// Kind 1, then the wall-clock ms (u64 little-endian) until which the request counts as in flight.
    public static func reservation(inFlightUntil: UInt64) -> [UInt8] {
        [reservedKind] + withUnsafeBytes(of: inFlightUntil.littleEndian) { Array($0) }
    }

    /// Kind 2, then the journal's record of the settled entry.
    public static func settled(_ key: IdempotencyCacheKey, _ entry: SettledEntry) -> [UInt8] {
        [settledKind] + JournalRecord.settled(key, entry).encode()
    }

    /// What a taken key's value says; nil for a value this gateway did not write.
    public static func lookup(_ bytes: [UInt8], key: IdempotencyCacheKey, now: UInt64) -> IdempotencyStore.Lookup? {
        guard let kind = bytes.first else { return nil }
        switch kind {
        case reservedKind:
            guard bytes.count == 9 else { return nil }
            let until = bytes[1...].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if until > now { return .inFlight }
            return .settled(SettledEntry(outcome: .unknownOutcome, fingerprint: nil, deadline: now))
        case settledKind:
            guard case .settled(let stored, let entry)? = JournalRecord(decoding: bytes[1...]), stored == key else { return nil }
            return .settled(entry)
        default:
            return nil
        }
    }
}
