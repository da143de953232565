/// The idempotency store's size and the journal's counters as the metrics report them, read
/// without taking any lock a request takes.
public struct IdempotencyGauges: Sendable, Equatable {
    public var entries: Int
    public var memoryBytes: Int
    public var memoryLimitBytes: Int
    /// Completed entries evicted (least recently used first) to stay within `max_memory`.
    public var evictions: UInt64
    /// nil without a journal.
    public var journal: JournalStats?
}
