import Synchronization

/// Requests in flight per key (sharded counters, entries dropped at zero so idle keys cost
/// nothing) and in total (one atomic counter, no lock).
public final class ConcurrencyGate: Sendable {
    private let perKey = Sharded { [UInt32: UInt32]() }
    private let total = Atomic<Int>(0)
    public let globalLimit: Int?

    public init(globalLimit: Int?) {
        self.globalLimit = globalLimit
    }

    public func acquireGlobal() -> Bool {
        guard let limit = globalLimit else { return true }
        if total.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        total.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    public func releaseGlobal() {
        if globalLimit != nil { total.wrappingSubtract(1, ordering: .relaxed) }
    }

    public func acquire(_ key: UInt32, limit: Int) -> Bool {
        perKey.withShard(Sharded<[UInt32: UInt32]>.hash(key)) { counts in
            let current = counts[key] ?? 0
            guard current < limit else { return false }
            counts[key] = current + 1
            return true
        }
    }

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
}
