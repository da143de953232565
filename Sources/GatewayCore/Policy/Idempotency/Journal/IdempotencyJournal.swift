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
        var stats = JournalStats()
    }

    public init(storage: any JournalStorage, policy: JournalSyncPolicy) {
        self.policy = policy
        self.storage = storage
        state = Mutex(State())
    }

    public var stats: JournalStats {
        state.withLock { state in
            var stats = state.stats
            stats.fileBytes = state.end
            return stats
        }
    }

    /// Appends go to the file from `end`, framed with `marker`.
    func attach(marker: [UInt8], end: Int64) {
        state.withLock { state in
            state.marker = marker
            state.end = end
            state.unsynced = false
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
            } catch {
                state.stats.writeErrors += 1
                state.stats.lastError = error
            }
        }
    }

    /// With `fsync always`, makes what was written durable before the caller goes on; the other
    /// policies sync from `flush`, off the event loops' path.
    func syncIfNeeded() {
        guard policy == .always else { return }
        state.withLock { state in
            if state.unsynced { Self.sync(&state, storage) }
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
            state.stats.compactions += 1
        }
    }

    func abandonCompaction(_ session: CompactionSession, _ error: JournalIOError, now: UInt64) {
        session.rewrite.abandon()
        state.withLock { state in
            state.compacting = false
            state.lastCompactionFailureMs = now
            state.stats.compactionFailures += 1
            state.stats.lastError = error
        }
    }

    /// For the `interval` policy: the I/O calls this every interval, so records reach the disk
    /// within one interval.
    public func flush() {
        state.withLock { state in
            guard state.unsynced, policy != .never else { return }
            Self.sync(&state, storage)
        }
    }

    /// Syncs what is unsynced even under `fsync never` (the gateway is exiting).
    func syncUnsynced() {
        state.withLock { state in
            if state.unsynced { Self.sync(&state, storage) }
        }
    }

    private static func sync(_ state: inout State, _ storage: any JournalStorage) {
        do throws(JournalIOError) {
            try storage.sync()
            state.unsynced = false
        } catch {
            state.stats.syncErrors += 1
            state.stats.lastError = error
        }
    }
}
