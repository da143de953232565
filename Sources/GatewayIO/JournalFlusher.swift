import GatewayCore
import Glibc

/// The idempotency journal's housekeeping, on a thread of its own so no event loop ever waits
/// for it: fsync every `fsync_interval` (with `fsync interval`), compaction once the file has
/// outgrown its live data, and a log line when writes start failing and when they stop.
enum JournalFlusher {
    static func start(_ stage: IdempotencyStage) throws(SystemError) {
        guard stage.store.journalStats != nil else { return }
        var tick: UInt64 = 1000
        if case .interval(let ms) = stage.config.sync { tick = min(max(ms, 10), 1000) }
        let store = stage.store, policy = stage.config.sync, tickMs = tick
        try Thread.start { run(store, policy: policy, tickMs: tickMs) }
    }

    private static func run(_ store: IdempotencyStore, policy: JournalSyncPolicy, tickMs: UInt64) {
        var reporter = JournalErrorReporter()
        var lastSync: UInt64 = 0, lastCheck: UInt64 = 0
        while true {
            usleep(UInt32(tickMs * 1000))
            let now = Clock.wallMillis()
            if case .interval(let ms) = policy, now &- lastSync >= ms {
                store.flushJournal()
                lastSync = now
            }
            guard now &- lastCheck >= 1000 else { continue }
            lastCheck = now
            if case .compacted(let from, let to) = JournalCompactor.compactIfDue(store, now: now) {
                Log.info("idempotency journal compacted: \(from) -> \(to) bytes")
            }
            if let stats = store.journalStats, let line = reporter.check(stats, now: now) { Log.warn(line) }
        }
    }
}
