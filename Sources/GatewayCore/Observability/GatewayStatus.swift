import Synchronization

/// What the process says about itself, for `/readyz` and the metrics: whether it listens, which
/// configuration runs, how reloads went, whether it is draining. Any thread may set or read it.
public final class GatewayStatus: Sendable {
    private let listening = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    private let generation = Atomic<UInt64>(0)
    private let reloadsSucceeded = Atomic<UInt64>(0)
    private let reloadsFailed = Atomic<UInt64>(0)
    /// Wall-clock ms at start, for `gateway_start_time_seconds`.
    public let startedAtWallMillis: UInt64

    public init(startedAtWallMillis: UInt64) {
        self.startedAtWallMillis = startedAtWallMillis
    }

    /// Every listener is open and the loops are about to serve.
    public func markListening() { listening.store(true, ordering: .releasing) }

    /// The first configuration is in force (generation 1); `reloadSucceeded` moves it on.
    public func configLoaded() { generation.wrappingAdd(1, ordering: .releasing) }

    /// A reload's configuration is in force on every loop: the generation moves on.
    public func reloadSucceeded() {
        reloadsSucceeded.wrappingAdd(1, ordering: .relaxed)
        configLoaded()
    }

    /// A reload was refused (the old configuration keeps running).
    public func reloadFailed() { reloadsFailed.wrappingAdd(1, ordering: .relaxed) }

    /// Graceful shutdown has begun: `/readyz` answers 503 from now on, so load balancers move away.
    public func beginDraining() { draining.store(true, ordering: .releasing) }

    public var isListening: Bool { listening.load(ordering: .acquiring) }
    public var isDraining: Bool { draining.load(ordering: .acquiring) }
    /// 0 until the first configuration is in force, then 1, 2, ... with every successful reload.
    public var configGeneration: UInt64 { generation.load(ordering: .acquiring) }
    public var reloads: (succeeded: UInt64, failed: UInt64) {
        (reloadsSucceeded.load(ordering: .relaxed), reloadsFailed.load(ordering: .relaxed))
    }
}
