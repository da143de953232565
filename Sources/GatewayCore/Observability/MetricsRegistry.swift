import Synchronization

/// Every loop's metric block, for the scrape to sum. Its lock is taken when a loop gets a block
/// (start, reload), when a block is retired, and by the scrape; never on a request's path.
public final class MetricsRegistry: Sendable {
    private struct State {
        var live: [LoopMetrics] = []
        /// What retired blocks counted, so counters never go back when a reload replaces blocks.
        var retired = MetricsSnapshot()
    }

    private let state = Mutex(State())

    public init() {}

    /// A new block for one loop running a configuration with these labels.
    public func makeLoopMetrics(_ layout: MetricsLayout) -> LoopMetrics {
        let block = LoopMetrics(layout: layout)
        state.withLock { $0.live.append(block) }
        return block
    }

    /// A loop is done with `block` (a reload gave it a new one and the last exchange that used the
    /// old configuration has ended): its counts are kept, its gauges dropped.
    public func retire(_ block: LoopMetrics) {
        state.withLock { state in
            guard let i = state.live.firstIndex(where: { $0 === block }) else { return }
            state.live.remove(at: i)
            state.retired.add(block, gauges: false)
        }
    }

    /// The sum of every block, live and retired.
    func snapshot() -> MetricsSnapshot {
        state.withLock { state in
            var total = MetricsSnapshot()
            total.addCounters(state.retired)
            for block in state.live { total.add(block, gauges: true) }
            return total
        }
    }
}
