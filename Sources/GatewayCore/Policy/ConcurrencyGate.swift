import Synchronization

/// Requests in flight per key (sharded counters, entries dropped at zero so idle keys cost
/// nothing) and in total (one atomic counter, no lock).
public final class ConcurrencyGate: Sendable {
    /// The counters, shared with the gates of the configurations before and after a reload: a
    /// request admitted under one configuration releases its slot into the same count the next
    /// one checks against its own limits.
    private final class Counts: Sendable {
        let perKey = Sharded { [UInt32: UInt32]() }
        let total = Atomic<Int>(0)
    }

    private let counts: Counts
    public let globalLimit: Int?

    /// `sharingCountsWith`: the gate of the configuration this one replaces.
    public init(globalLimit: Int?, sharingCountsWith previous: ConcurrencyGate? = nil) {
        self.globalLimit = globalLimit
        counts = previous?.counts ?? Counts()
    }

    public func acquireGlobal() -> Bool {
        guard let limit = globalLimit else { return true }
        if counts.total.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        counts.total.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    public func releaseGlobal() {
        if globalLimit != nil { counts.total.wrappingSubtract(1, ordering: .relaxed) }
    }

    public func acquire(_ key: UInt32, limit: Int) -> Bool {
        counts.perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { counts in
            let current = counts[key] ?? 0
            guard current < limit else { return false }
            counts[key] = current + 1
            return true
        }
    }

    /// A key whose count was forgotten (removed at a reload) releases nothing.
    public func release(_ key: UInt32) {
        counts.perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { counts in
            guard let current = counts[key] else { return }
            counts[key] = current > 1 ? current - 1 : nil
        }
    }

    public func inFlight(_ key: UInt32) -> Int {
        counts.perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { Int($0[key] ?? 0) }
    }

    public var globalInFlight: Int { counts.total.load(ordering: .relaxed) }

    /// Drops the counts of keys that are gone.
    public func forget(_ keys: Set<UInt32>) {
        for index in 0..<Sharded<[UInt32: UInt32]>.count {
            counts.perKey.withShard(index) { counts in counts = counts.filter { !keys.contains($0.key) } }
        }
    }
}
