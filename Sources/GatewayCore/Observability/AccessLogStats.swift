import Synchronization

/// The access log's own health, for the metrics: lines lost because the writer fell behind (a
/// loop's buffer had nowhere to go) or the destination refused them (a full disk), and reopens.
/// Written rarely (only when something goes wrong, or on SIGUSR1), by any thread.
public final class AccessLogStats: Sendable {
    private let dropped = Atomic<UInt64>(0)
    private let reopened = Atomic<UInt64>(0)

    public init() {}

    public func linesDropped(_ count: Int) { dropped.wrappingAdd(UInt64(count), ordering: .relaxed) }
    public func fileReopened() { reopened.wrappingAdd(1, ordering: .relaxed) }

    public var droppedLines: UInt64 { dropped.load(ordering: .relaxed) }
    public var reopens: UInt64 { reopened.load(ordering: .relaxed) }
}
