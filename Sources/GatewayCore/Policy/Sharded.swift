import Synchronization

/// State split into 64 independently locked shards, so threads working on different owners
/// (keys, client IPs) rarely meet on a lock and no lock is global.
final class Sharded<State: Sendable>: Sendable {
    private final class Shard: Sendable {
        let state: Mutex<State>
        init(_ state: sending State) { self.state = Mutex(state) }
    }

    static var count: Int { 64 }
    private let shards: [Shard]

    init(_ make: () -> State) {
        shards = (0..<Self.count).map { _ in Shard(make()) }
    }

    /// Runs `body` on the shard that owns `hash`, under its lock.
    func withShard<R: Sendable>(_ hash: Int, _ body: (inout State) -> R) -> R {
        shards[hash & (Self.count - 1)].state.withLock { state in body(&state) }
    }

    /// Shard hash of a key index: a multiplicative mix, since consecutive indices must spread.
    static func hash(_ owner: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(owner) &* 0x9E37_79B9_7F4A_7C15) >> 58)
    }
}
