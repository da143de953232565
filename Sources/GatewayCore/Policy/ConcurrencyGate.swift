import Synchronization

/// Requests in flight per key (sharded counters, entries dropped at zero so idle keys cost
/// nothing) and in total (one atomic counter, no lock). The limits come with each call, so one
/// gate serves every configuration a reload brings: a request admitted under one releases its
/// slot into the same count the next one checks.
public final class ConcurrencyGate: Sendable {
    private let perKey = Sharded { [UInt32: UInt32]() }
    private let total = Atomic<Int>(0)

    public init() {}

    /// One more request in flight over all clients, unless `limit` already are.
    public func acquireGlobal(limit: Int) -> Bool {
        if total.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        total.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    public func releaseGlobal() {
        total.wrappingSubtract(1, ordering: .relaxed)
    }

    public func acquire(_ key: UInt32, limit: Int) -> Bool {
        perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { counts in
            let current = counts[key] ?? 0
            guard current < limit else { return false }
            counts[key] = current + 1
            return true
        }
    }

    /// A key whose count was forgotten (removed at a reload) releases nothing.
    public func release(_ key: UInt32) {
        perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { counts in
            guard let current = counts[key] else { return }
            counts[key] = current > 1 ? current - 1 : nil
        }
    }

    public func inFlight(_ key: UInt32) -> Int {
        perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { Int($0[key] ?? 0) }
    }

    public var globalInFlight: Int { total.load(ordering: .relaxed) }

    /// Drops the counts of keys that are gone.
    public func forget(_ keys: Set<UInt32>) {
        for index in 0..<Sharded<[UInt32: UInt32]>.count {
            perKey.withShard(index) { counts in counts = counts.filter { !keys.contains($0.key) } }
        }
    }
}
