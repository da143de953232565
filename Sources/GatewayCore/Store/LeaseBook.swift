/// The concurrency leases one event loop holds in the shared store for its requests in flight,
/// renewed every third of their length while the requests run (`renewals`), so a long streamed
/// answer keeps its slot and a crashed gateway's slots expire on their own. Loop thread only.
public final class LeaseBook {
    struct Lease {
        var keys: LimitCommand.Keys
        var ms: Int64
        var renewAt: UInt64
    }

    /// Unique per book (random), so members from different loops and processes never collide;
    /// with the `:` that follows it.
    private let base: [UInt8]
    private var next: UInt64 = 1
    private var held: [UInt64: Lease] = [:]

    public init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
        base = Array(String(seed, radix: 16).utf8) + [UInt8(ascii: ":")]
    }

    public var count: Int { held.count }

    /// A new lease number (never 0).
    public func take() -> UInt64 {
        defer { next &+= 1 }
        return next
    }

    /// The sorted-set member a lease is stored under: `<book>:<number>`.
    public func member(_ id: UInt64) -> [UInt8] {
        var member = base
        member.reserveCapacity(base.count + 16)
        var shift = 60
        while shift > 0 && (id >> UInt64(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            member.append(Self.hexDigits[Int((id >> UInt64(shift)) & 0xF)])
            shift -= 4
        }
        return member
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    public func hold(_ id: UInt64, keys: LimitCommand.Keys, ms: Int64, now: UInt64) {
        held[id] = Lease(keys: keys, ms: ms, renewAt: now + UInt64(max(ms / 3, 1)))
    }

    public func drop(_ id: UInt64) {
        held[id] = nil
    }

    /// The renewal commands due at `now` (with their cluster slots); each lease is due again a
    /// third of its length later.
    public func renewals(now: UInt64) -> [(command: RESPCommand, slot: Int)] {
        var due: [(RESPCommand, Int)] = []
        for (id, lease) in held where lease.renewAt <= now {
            due.append((LimitCommand.renew(keys: lease.keys, member: member(id), leaseMs: lease.ms), lease.keys.slot))
            held[id]?.renewAt = now + UInt64(max(lease.ms / 3, 1))
        }
        return due
    }
}
