/// Turns the journal's error counters into log lines the I/O layer prints: one when a burst of
/// failures starts (with the latest error), one when it has been quiet for `quietMs`, so a full
/// disk logs twice, not once per request.
public struct JournalErrorReporter: Sendable {
    public let quietMs: UInt64
    private var seen = 0
    private var burstStart = 0
    private var lastErrorMs: UInt64?

    public init(quietMs: UInt64 = 10_000) {
        self.quietMs = quietMs
    }

    /// The line to log now, if any. `now` in milliseconds, any clock.
    public mutating func check(_ stats: JournalStats, now: UInt64) -> String? {
        if stats.errors > seen {
            defer { seen = stats.errors; lastErrorMs = now }
            guard lastErrorMs == nil else { return nil }
            burstStart = seen
            let counts = "\(stats.writeErrors) write, \(stats.syncErrors) fsync, \(stats.compactionFailures) compaction failure(s) so far"
            return "idempotency journal failing (\(counts)): \(stats.lastError.map { "\($0)" } ?? "unknown error"); "
                + "entries still protect retries in memory, but records may be lost on a crash or restart"
        }
        guard let last = lastErrorMs, now &- last >= quietMs else { return nil }
        lastErrorMs = nil
        return "idempotency journal: no failure for \(quietMs / 1000) s; \(seen - burstStart) in the last burst"
    }
}
