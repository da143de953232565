import Synchronization

/// The shared store as the metrics see it, for the whole process: whether every loop's
/// connection is up, commands by how they ended, and their round-trip times. Written by the loops
/// with relaxed atomics (a few per command), read by the scrape.
public final class StoreStats: Sendable {
    public enum Result: Int, CaseIterable, Sendable {
        /// A reply came (errors Redis answered included).
        case replied
        /// No reply within `store_command_timeout`.
        case timeout
        /// Never sent, or its connection broke: breaker open, connection lost, queue full.
        case unavailable

        public var label: String {
            switch self {
            case .replied: "replied"
            case .timeout: "timeout"
            case .unavailable: "unavailable"
            }
        }
    }

    private let loops: Int
    private let loopsDown = Atomic<Int>(0)
    /// Results, then the latency buckets, their sum (µs) and their count.
    private let cells = SharedCounters(count: Result.allCases.count + LatencyBuckets.count + 2)
    private static let bucketsAt = Result.allCases.count
    private static let sumAt = bucketsAt + LatencyBuckets.count
    /// For the log lines: when the store was last seen down by any loop (monotonic ms).
    private let downSince = Atomic<UInt64>(0)

    public init(loops: Int) {
        self.loops = loops
    }

    public func count(_ result: Result) {
        cells.add(result.rawValue, 1)
    }

    public func observe(micros: UInt64) {
        cells.add(Self.bucketsAt + LatencyBuckets.index(micros: micros), 1)
        cells.add(Self.sumAt, micros)
        cells.add(Self.sumAt + 1, 1)
    }

    /// A loop's breaker opened; true when it is the first loop to see the store down (log it).
    public func loopWentDown(now: UInt64) -> Bool {
        let first = loopsDown.wrappingAdd(1, ordering: .relaxed).newValue == 1
        if first { downSince.store(now, ordering: .relaxed) }
        return first
    }

    /// A loop's breaker closed again; the outage's length when it was the last loop down (log it).
    public func loopCameUp(now: UInt64) -> UInt64? {
        guard loopsDown.wrappingSubtract(1, ordering: .relaxed).newValue == 0 else { return nil }
        return now - downSince.load(ordering: .relaxed)
    }

    public var isUp: Bool { loopsDown.load(ordering: .relaxed) == 0 }
    public var connectionsUp: Int { loops - loopsDown.load(ordering: .relaxed) }
    public var loopCount: Int { loops }

    public func results(_ result: Result) -> UInt64 { cells.load(result.rawValue) }
    public var latency: (buckets: [UInt64], sumMicros: UInt64, count: UInt64) {
        ((0..<LatencyBuckets.count).map { cells.load(Self.bucketsAt + $0) }, cells.load(Self.sumAt), cells.load(Self.sumAt + 1))
    }
}

/// Counters any thread may add to (an atomic add each), read by the scrape.
private final class SharedCounters: @unchecked Sendable {
    private let base: UnsafeMutablePointer<Atomic<UInt64>>
    private let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: count)
        for i in 0..<count { (base + i).initialize(to: Atomic(0)) }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    func add(_ index: Int, _ amount: UInt64) { base[index].wrappingAdd(amount, ordering: .relaxed) }
    func load(_ index: Int) -> UInt64 { base[index].load(ordering: .relaxed) }
}
