import Synchronization

/// When appended records are made durable.
public enum JournalSyncPolicy: Sendable, Equatable {
    /// fsync after every record: nothing acknowledged is lost, at the cost of two fsyncs per keyed
    /// request (its reservation before it is forwarded, its outcome), on the loop that serves it.
    case always
    /// fsync once per interval, from the I/O layer's background thread (`flush()`), never on a request's path.
    case interval(ms: UInt64)
    /// Leave it to the kernel's writeback.
    case never
}

/// Counters for the operator (logged by the I/O layer, read by metrics).
public struct JournalStats: Sendable, Equatable {
    /// Size of the journal file, and of its live part: the latest record of every entry held.
    public var fileBytes: Int64 = 0
    public var liveBytes: Int64 = 0
    /// Records that could not be written, and fsyncs that failed: each may be lost in a crash.
    public var writeErrors = 0
    public var syncErrors = 0
    public var compactions = 0
    public var compactionFailures = 0
    public var lastError: JournalIOError?

    public init() {}

    /// Write, sync and compaction failures together: what a log line reports as one burst.
    public var errors: Int { writeErrors + syncErrors + compactionFailures }
}

/// Appends records for every event loop, under one lock of its own. A failed write does not fail
/// the request (the entry still protects retries from memory); it is counted for the operator.
public final class IdempotencyJournal: Sendable {
    public let policy: JournalSyncPolicy
    let storage: any JournalStorage
    private let state: Mutex<State>

    private struct State {
        /// The current file's marker; nil until the loader has made the file appendable.
        var marker: [UInt8]?
        /// Where the next frame goes: the end of the last complete one.
        var end: Int64 = 0
        var unsynced = false
        var compacting = false
        var lastCompactionFailureMs: UInt64?
        var lastError: JournalIOError?
    }

    /// The counters and the file's size, changed under the lock and readable without it (metrics).
    private final class Counters: Sendable {
        let fileBytes = Atomic<Int64>(0)
        let writeErrors = Atomic<Int>(0)
        let syncErrors = Atomic<Int>(0)
        let compactions = Atomic<Int>(0)
        let compactionFailures = Atomic<Int>(0)

        /// Under the journal's lock: one writer at a time.
        static func increment(_ cell: borrowing Atomic<Int>) {
            cell.store(cell.load(ordering: .relaxed) + 1, ordering: .relaxed)
        }
    }

    private let counters = Counters()

    public init(storage: any JournalStorage, policy: JournalSyncPolicy) {
        self.policy = policy
        self.storage = storage
        state = Mutex(State())
    }

    /// The counters with the last error (taken under the journal's lock).
    public var stats: JournalStats {
        var stats = publishedStats
        stats.lastError = state.withLock { $0.lastError }
        return stats
    }

    /// The counters and the file's size without the last error, read without the lock.
    public var publishedStats: JournalStats {
        var stats = JournalStats()
        stats.fileBytes = counters.fileBytes.load(ordering: .relaxed)
        stats.writeErrors = counters.writeErrors.load(ordering: .relaxed)
        stats.syncErrors = counters.syncErrors.load(ordering: .relaxed)
        stats.compactions = counters.compactions.load(ordering: .relaxed)
        stats.compactionFailures = counters.compactionFailures.load(ordering: .relaxed)
        return stats
    }

    /// Appends go to the file from `end`, framed with `marker`.
    func attach(marker: [UInt8], end: Int64) {
        state.withLock { state in
            state.marker = marker
            state.end = end
            state.unsynced = false
            counters.fileBytes.store(end, ordering: .relaxed)
        }
    }

    /// Writes a record and syncs as the policy says.
    func append(_ record: JournalRecord) {
        write(record)
        syncIfNeeded()
    }

    func write(_ record: JournalRecord) {
        var frame = PreparedFrame(record)
        write(&frame)
    }

    /// One pwrite under the lock. A failure is counted, and the next record goes where this one
    /// started, over whatever part of it reached the file.
    func write(_ frame: inout PreparedFrame) {
        state.withLock { state in
            do throws(JournalIOError) {
                guard let marker = state.marker else { throw JournalIOError("append", path: "journal not open", code: 9) }
                frame.seal(marker: marker, offset: state.end)
                try storage.write(frame.bytes, at: state.end)
                state.end += Int64(frame.count)
                state.unsynced = true
                counters.fileBytes.store(state.end, ordering: .relaxed)
            } catch {
                Counters.increment(counters.writeErrors)
                state.lastError = error
            }
        }
    }

    /// With `fsync always`, makes what was written durable before the caller goes on; the other
    /// policies sync from `flush`, off the event loops' path.
    func syncIfNeeded() {
        guard policy == .always else { return }
        state.withLock { state in
            if state.unsynced { sync(&state) }
        }
    }

    /// False for a while after a failed compaction.
    func mayCompact(now: UInt64) -> Bool {
        state.withLock { state in
            guard let failed = state.lastCompactionFailureMs else { return true }
            return now &- failed >= JournalCompactor.retryDelayMs
        }
    }

    /// Starts a compaction (one at a time): the new file, and the current end of the old one.
    func beginCompaction() throws(JournalIOError) -> CompactionSession {
        let (marker, end) = try state.withLock { state throws(JournalIOError) -> ([UInt8]?, Int64) in
            guard !state.compacting else { throw JournalIOError("compact", path: "journal", code: 16) }  // EBUSY
            state.compacting = true
            return (state.marker, state.end)
        }
        do {
            return CompactionSession(rewrite: try JournalRewrite(storage), oldMarker: marker, copied: end)
        } catch {
            state.withLock { $0.compacting = false }
            throw error
        }
    }

    /// Copies what the loops appended since the last copy, without the lock; returns how much that was.
    func copyTail(_ session: CompactionSession) throws(JournalIOError) -> Int64 {
        let end = state.withLock { $0.end }
        let from = session.copied
        try session.copy(from: storage, upTo: end)
        return end - from
    }

    /// The last records, and the switch to the new file, under the lock: appends wait only for this.
    func finishCompaction(_ session: CompactionSession) throws(JournalIOError) {
        try state.withLock { state throws(JournalIOError) in
            try session.copy(from: storage, upTo: state.end)
            try session.rewrite.commit()
            state.marker = session.rewrite.marker
            state.end = session.rewrite.end
            state.unsynced = false
            state.compacting = false
            counters.fileBytes.store(state.end, ordering: .relaxed)
            Counters.increment(counters.compactions)
        }
    }

    func abandonCompaction(_ session: CompactionSession, _ error: JournalIOError, now: UInt64) {
        session.rewrite.abandon()
        state.withLock { state in
            state.compacting = false
            state.lastCompactionFailureMs = now
            Counters.increment(counters.compactionFailures)
            state.lastError = error
        }
    }

    /// For the `interval` policy: the I/O calls this every interval, so records reach the disk
    /// within one interval.
    public func flush() {
        state.withLock { state in
            guard state.unsynced, policy != .never else { return }
            sync(&state)
        }
    }

    /// Syncs what is unsynced even under `fsync never` (the gateway is exiting).
    func syncUnsynced() {
        state.withLock { state in
            if state.unsynced { sync(&state) }
        }
    }

    private func sync(_ state: inout State) {
        do throws(JournalIOError) {
            try storage.sync()
            state.unsynced = false
        } catch {
            Counters.increment(counters.syncErrors)
            state.lastError = error
        }
    }
}
