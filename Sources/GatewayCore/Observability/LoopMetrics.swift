/// One event loop's counters, written only by that loop's thread (plain stores into relaxed
/// atomics: no lock, no locked instruction) and summed by the scrape (`MetricsRegistry`). Sized
/// for one configuration's routes and servers (`layout`).
public final class LoopMetrics: @unchecked Sendable {
    public let layout: MetricsLayout
    let cells: MetricCells

    init(layout: MetricsLayout) {
        self.layout = layout
        cells = MetricCells(count: layout.cellCount)
    }

    // MARK: Written by the loop

    func countRequest(route: Int?, method: HTTPMethod, status: Int) {
        cells.add(layout.request(route: route, method: method, statusClass: MetricsLayout.statusClass(status)))
    }

    func countError(_ kind: GatewayErrorKind) { cells.add(layout.error(kind)) }
    func countRejection(_ limit: PolicyLimit) { cells.add(layout.rejection(limit)) }
    func countIdempotency(_ outcome: IdempotencyOutcome) { cells.add(layout.idempotency(outcome)) }
    func count(_ scalar: LoopScalar, _ amount: UInt64 = 1) { cells.add(layout.scalar(scalar), amount) }

    func observeUpstream(group: Int, micros: UInt64) {
        let at = layout.latency(group: group)
        cells.add(at + LatencyBuckets.index(micros: micros))
        cells.add(at + LatencyBuckets.count, micros)
        cells.add(at + LatencyBuckets.count + 1)
    }

    /// Passive health took the server out (on this loop's request; the state itself is shared).
    func serverEjected(group: Int, server: Int) {
        cells.add(layout.server(group: group, server: server, .ejections))
    }

    /// The size of the loop's idle pool for one server, after every change.
    public func setPooled(group: Int, server: Int, count: Int) {
        cells.set(layout.server(group: group, server: server, .pooled), UInt64(count))
    }

    // MARK: Read by the scrape

    func value(_ index: Int) -> UInt64 { cells.load(index) }
}
