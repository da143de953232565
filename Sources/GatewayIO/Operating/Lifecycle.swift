import Synchronization

/// What the process is doing, for whatever reports on it (`/readyz` answers 503 while
/// `isDraining`; `/metrics` exports the generation and the reload counters). Written by the
/// reload thread and the first loop, read from any thread without a lock.
public final class Lifecycle: Sendable {
    private let draining = Atomic<Bool>(false)
    private let generation = Atomic<Int>(1)
    private let succeeded = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)

    public init() {}

    /// SIGTERM or SIGINT arrived: the gateway no longer accepts and is finishing what it has.
    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    /// 1 for the configuration the process started with, one more for each successful reload.
    public var configGeneration: Int { generation.load(ordering: .relaxed) }
    public var reloadsSucceeded: Int { succeeded.load(ordering: .relaxed) }
    /// Reloads refused (a configuration error, an address that cannot be bound): the running
    /// configuration stayed.
    public var reloadsFailed: Int { failed.load(ordering: .relaxed) }

    /// True the first time only: a second call means a second signal.
    func beginDraining() -> Bool {
        !draining.exchange(true, ordering: .relaxed)
    }

    /// Returns the new configuration generation.
    func reloadSucceeded() -> Int {
        succeeded.wrappingAdd(1, ordering: .relaxed)
        return generation.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func reloadFailed() {
        failed.wrappingAdd(1, ordering: .relaxed)
    }
}
