/// `store_sync local_burst=N`: the requests one event loop admits for an API key without asking
/// Redis. After an answer that admitted a request whose limits only count (`CountedLimits`), the
/// loop holds a credit of at most N for that key, as much as the answer says the tightest of those
/// limits still holds; each request with the same limits then spends a unit of credit instead of
/// a round trip and leaves a unit owed, which the key's next command to Redis charges first,
/// unconditionally (or a settlement, once the credit has expired and the key is quiet).
///
/// The bound: whatever order commands are applied in, the credit a loop holds plus the owed units
/// Redis may not have counted yet never exceed N, so no key gets more than its limits allow plus N
/// per loop. A grant therefore subtracts what is owed and what other commands of the key carried
/// that the answer may not include (`Mark`). Loop thread only; O(1) per request; at most
/// `capacity` keys at a time (beyond it, other keys simply ask Redis).
public final class LocalAllowance {
    public let burst: Int
    public let capacity: Int
    /// A credit is spent within this long after the answer that granted it, or not at all.
    public static let creditMs: UInt64 = 1_000

    final class Entry {
        let generation: UInt64
        /// What the credit was granted for, and what `owed` is owed on.
        var limits: CountedLimits
        var credit = 0
        var owed = 0
        var expiresAt: UInt64 = 0
        /// The granting answer's buckets, and the credit spent since, for the RateLimit headers.
        var buckets = BucketVerdict(waitMs: 0)
        var spent: Int64 = 0
        /// Owed units sent to Redis, and those whose command has ended (answered, failed or left).
        var sent: UInt64 = 0
        var ended: UInt64 = 0

        init(generation: UInt64, limits: CountedLimits) {
            self.generation = generation
            self.limits = limits
        }
    }

    /// What a command for a key carried, and what the loop knew when it left: read with its answer.
    public struct Mark: Equatable, Sendable {
        /// The key's entry then (0: none).
        var generation: UInt64 = 0
        /// Its owed units whose commands had ended then: those the answer surely includes.
        var endedBefore: UInt64 = 0
        /// Owed units this command carries.
        public var units = 0

        public init() {}

        init(generation: UInt64, endedBefore: UInt64, units: Int) {
            self.generation = generation
            self.endedBefore = endedBefore
            self.units = units
        }
    }

    /// Owed units of a quiet key, sent with nobody waiting.
    public struct Settlement {
        public let prefix: [UInt8]
        public let units: Int
        public let command: RESPCommand
    }

    private var entries: [[UInt8]: Entry] = [:]
    private var generations: UInt64 = 0

    public init(burst: Int, capacity: Int = 8_192) {
        self.burst = burst
        self.capacity = capacity
    }

    public var count: Int { entries.count }

    /// Admits one request of the key under `prefix` from its credit: the RateLimit buckets of the
    /// granting answer less the credit spent since; nil when there is no credit for these limits.
    public func take(_ prefix: [UInt8], _ limits: CountedLimits, now: UInt64) -> BucketVerdict? {
        guard let entry = entries[prefix], entry.credit > 0, entry.limits == limits else { return nil }
        guard now < entry.expiresAt else {
            entry.credit = 0
            return nil
        }
        entry.credit -= 1
        entry.owed += 1
        entry.spent += 1
        func less(_ status: BucketStatus?) -> BucketStatus? {
            status.map { BucketStatus(remaining: max(0, $0.remaining - entry.spent), msUntilNextToken: $0.msUntilNextToken) }
        }
        return BucketVerdict(waitMs: 0, first: less(entry.buckets.first), second: less(entry.buckets.second))
    }

    /// The owed units the key's next command carries (counted as sent from now), and its mark.
    public func carry(_ prefix: [UInt8]) -> (owed: OwedUnits?, mark: Mark) {
        guard let entry = entries[prefix] else { return (nil, Mark()) }
        let units = entry.owed
        entry.owed = 0
        entry.sent += UInt64(units)
        return (units > 0 ? OwedUnits(units: units, limits: entry.limits) : nil,
                Mark(generation: entry.generation, endedBefore: entry.ended, units: units))
    }

    /// A command that carried `units` ended: answered, failed (the units are then dropped, like
    /// the requests a failing store lets through) or abandoned by its request.
    public func ended(_ prefix: [UInt8], units: Int) {
        guard units > 0, let entry = entries[prefix] else { return }
        entry.ended += UInt64(units)
    }

    /// A limit refused the key: its credit is gone (what it owes stays owed).
    public func refused(_ prefix: [UInt8]) {
        entries[prefix]?.credit = 0
    }

    /// Redis admitted a request with only `limits` (after `ended` for its own units): the key's
    /// credit becomes the room `answer` leaves, at most `burst`, less what is owed and what other
    /// commands carried that the answer may not include. A credit already held is kept up to that
    /// room less what is owed, so an answer read with less certainty does not undo a better grant.
    /// Owed units under other limits keep the entry as it is until they are sent.
    public func granted(_ prefix: [UInt8], _ mark: Mark, _ limits: CountedLimits, answer: LimitCommand.Answer, now: UInt64) {
        guard let room = limits.room(after: answer) else { return }
        let entry = entries[prefix]
        if let entry, entry.owed > 0, entry.limits != limits { return }
        let owed = Int64(entry?.owed ?? 0)
        let allowed = min(Int64(burst), room) - owed
        var credit = allowed
        if let entry {
            // Sent by others while this command was out, or in flight when it left.
            let certain = entry.generation == mark.generation ? mark.endedBefore + UInt64(mark.units) : 0
            credit -= Int64(clamping: entry.sent - min(entry.sent, certain))
            if entry.limits == limits && now < entry.expiresAt { credit = max(credit, min(Int64(entry.credit), allowed)) }
        }
        let target: Entry
        if let entry {
            target = entry
        } else {
            guard credit > 0, entries.count < capacity else { return }
            generations += 1
            target = Entry(generation: generations, limits: limits)
            entries[prefix] = target
        }
        target.limits = limits
        target.credit = Int(max(0, credit))
        target.expiresAt = now + Self.creditMs
        target.buckets = answer.buckets
        target.spent = 0
    }

    /// The timer's pass: expired credits end; the owed units of keys whose credit expired are
    /// sent as settlements; keys with nothing left are forgotten.
    public func sweep(now: UInt64) -> [Settlement] {
        var settlements: [Settlement] = []
        var idle: [[UInt8]] = []
        for (prefix, entry) in entries where now >= entry.expiresAt {
            entry.credit = 0
            if entry.owed > 0 {
                let owed = OwedUnits(units: entry.owed, limits: entry.limits)
                entry.sent += UInt64(entry.owed)
                entry.owed = 0
                settlements.append(Settlement(prefix: prefix, units: owed.units, command: LimitCommand.settle(owed, prefix: prefix)))
            } else if entry.sent == entry.ended {
                idle.append(prefix)
            }
        }
        for prefix in idle { entries[prefix] = nil }
        return settlements
    }
}
