/// Rewrites the journal to hold only what the store holds, while the event loops keep appending.
///
/// 1. A new file is started beside the journal and the journal's current end noted.
/// 2. Each shard in turn is locked just long enough to gather its live entries (references, no
///    copies), which are then written to the new file without any lock held.
/// 3. Records the loops appended to the old file meanwhile are copied over, re-sealed for their
///    new offsets, a few times without the journal's lock, until little is left.
/// 4. Under the journal's lock: the last of them copied, the new file fsynced and renamed over the
///    old one, the directory fsynced; appends continue in the new file.
///
/// Every record is a complete state for its key, so the records copied in steps 3 and 4 (which
/// may repeat what a snapshot already shows) leave each key at its latest state. A crash at any
/// point leaves either the old journal or the complete new one.
public enum JournalCompactor {
    /// Tail left to copy below which the last step runs under the journal's lock.
    static let finalTailBytes: Int64 = 64 << 10
    /// Compaction is due once the file is over twice its live data (so rewriting costs at most
    /// one copy of the live data per as many bytes appended) and over 1 MiB (small files are
    /// not worth the fsyncs).
    static let growthFactor: Int64 = 2
    static let minimumFileBytes: Int64 = 1 << 20
    /// After a failure (a full disk, say), the next attempt waits this long.
    static let retryDelayMs: UInt64 = 60_000

    public static func isDue(_ stats: JournalStats) -> Bool {
        stats.fileBytes >= minimumFileBytes && stats.fileBytes > growthFactor * stats.liveBytes
    }

    public enum Result: Sendable, Equatable {
        case compacted(fromBytes: Int64, toBytes: Int64)
        case failed(JournalIOError)
    }

    /// What the I/O layer's background thread calls every so often. Expired entries are purged
    /// first: a quiet store would otherwise count them as live.
    public static func compactIfDue(_ store: IdempotencyStore, now: UInt64) -> Result? {
        guard let journal = store.journal else { return nil }
        store.purgeExpired(now: now)
        guard let stats = store.journalStats, isDue(stats), journal.mayCompact(now: now) else { return nil }
        do {
            try compact(store, now: now)
            return .compacted(fromBytes: stats.fileBytes, toBytes: journal.stats.fileBytes)
        } catch {
            return .failed(error)
        }
    }

    /// Called at start-up and by the I/O layer's background thread, never on an event loop.
    public static func compact(_ store: IdempotencyStore, now: UInt64) throws(JournalIOError) {
        guard let journal = store.journal else { return }
        let session = try journal.beginCompaction()
        do throws(JournalIOError) {
            for index in 0..<store.shardCount {
                for record in store.snapshot(shard: index, now: now) { try session.rewrite.append(record) }
            }
            for _ in 0..<8 where try journal.copyTail(session) > finalTailBytes {}
            try session.rewrite.sync()
            try journal.finishCompaction(session)
        } catch {
            journal.abandonCompaction(session, error, now: now)
            throw error
        }
    }
}

/// One compaction in progress: the new file, and how far the old one has been copied.
final class CompactionSession {
    let rewrite: JournalRewrite
    /// The old file's marker and the offset up to which its records are in the new file; nil
    /// when the old file was not being appended to (start-up).
    let oldMarker: [UInt8]?
    var copied: Int64

    init(rewrite: JournalRewrite, oldMarker: [UInt8]?, copied: Int64) {
        self.rewrite = rewrite
        self.oldMarker = oldMarker
        self.copied = copied
    }

    /// Copies the old file's records from `copied` to `end` into the new file.
    func copy(from storage: any JournalStorage, upTo end: Int64) throws(JournalIOError) {
        guard let oldMarker, end > copied else { return }
        var scanner = JournalScanner(storage: storage, marker: oldMarker, maxPayload: JournalLoader.maxPayload, from: copied, to: end)
        while let frame = try scanner.next() {
            var copy = PreparedFrame(payload: frame.payload, payloadDigest: frame.payloadDigest)
            try rewrite.append(&copy)
        }
        copied = end
    }
}
