import Synchronization

/// A fixed block of 64-bit cells that one thread writes and any thread reads. The writer adds with
/// a relaxed load and a relaxed store, which compile to plain moves: no locked instruction, no
/// lock, the cost of an ordinary increment. Readers load relaxed, so a scrape sees every cell
/// whole and never races with the writer; it may see one cell a moment older than another.
final class MetricCells: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Atomic<UInt64>>
    let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        for i in 0..<count { (base + i).initialize(to: Atomic(0)) }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Owning thread only: a second writer would lose increments.
    @inline(__always)
    func add(_ index: Int, _ amount: UInt64 = 1) {
        let cell = base + index
        cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Owning thread only (gauges such as a pool's size).
    @inline(__always)
    func set(_ index: Int, _ value: UInt64) {
        base[index].store(value, ordering: .relaxed)
    }

    /// Any thread.
    func load(_ index: Int) -> UInt64 {
        base[index].load(ordering: .relaxed)
    }
}
