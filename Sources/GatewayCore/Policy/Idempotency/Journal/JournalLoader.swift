/// What start-up made of the journal, for the operator's log.
public struct JournalLoadReport: Sendable, Equatable {
    /// Intact records read, live or not.
    public var recordsLoaded = 0
    /// Entries in the store afterwards: not removed, not expired, not evicted by the memory budget.
    public var entriesRestored = 0
    /// Bytes of damaged or truncated records that were skipped.
    public var bytesSkipped = 0
    /// What was skipped and why (the first few), and anything that stopped reading or compaction.
    public var problems: [String] = []
    /// Whether the journal was rewritten to hold only the restored entries.
    public var compacted = false

    public init(recordsLoaded: Int = 0, entriesRestored: Int = 0, bytesSkipped: Int = 0, problems: [String] = [], compacted: Bool = false) {
        self.recordsLoaded = recordsLoaded
        self.entriesRestored = entriesRestored
        self.bytesSkipped = bytesSkipped
        self.problems = problems
        self.compacted = compacted
    }
}

/// Start-up: replays the journal into the store, then compacts it. Records stream through in
/// bounded chunks and go straight into the store, which keeps only each key's latest state and
/// drops expired entries and evicts over `max_memory` as it goes: memory stays within the budget
/// (plus one read chunk) however long the journal. Damage never stops the gateway: damaged
/// stretches are skipped and reported, and whatever was intact is restored.
public enum JournalLoader {
    /// Bound on one record's payload: the largest storable response plus key and metadata, so a
    /// corrupted length cannot make the reader swallow the rest of the file as one record.
    static let maxPayload = IdempotencyConfig.maxResponseSizeLimit + (128 << 10)

    /// Fails only when the journal cannot be written at all: no usable file to append to and no
    /// way to write a new one.
    public static func load(into store: IdempotencyStore, now: UInt64) throws(JournalIOError) -> JournalLoadReport {
        guard let journal = store.journal else { preconditionFailure("a store without a journal has nothing to load") }
        let storage = journal.storage
        var report = JournalLoadReport()
        let kind = try JournalFileKind.detect(storage)
        var readAll = true
        switch kind {
        case .empty:
            break
        case .format1:
            let size = try storage.size()
            report.bytesSkipped = Int(size)
            report.problems.append("the journal is in format 1, which identified API keys by their position in the key list: its \(size) bytes were not restored (they cannot be attributed to keys safely) and are replaced")
        case .unknown:
            let size = try storage.size()
            report.bytesSkipped = Int(size)
            report.problems.append("not an idempotency journal, or its header is damaged: \(size) bytes skipped and replaced")
        case .current(let marker, let recovered):
            if recovered { report.problems.append("file header damaged; its marker was recovered from the first record") }
            var scanner = JournalScanner(storage: storage, marker: marker, maxPayload: maxPayload, from: Int64(JournalFrame.fileHeaderSize))
            do throws(JournalIOError) {
                while let frame = try scanner.next() {
                    guard let record = JournalRecord(decoding: frame.payload) else {
                        report.bytesSkipped += frame.size
                        report.problems.append("undecodable record of \(frame.payload.count) bytes skipped")
                        continue
                    }
                    report.recordsLoaded += 1
                    store.apply(record, recordBytes: frame.size, now: now)
                }
            } catch {
                readAll = false
                report.problems.append("reading stopped: \(error)")
            }
            report.bytesSkipped += scanner.bytesSkipped
            report.problems = scanner.problems + report.problems
        }
        report.entriesRestored = store.usage.entries

        // A journal that could not be read to the end keeps its unread records: no rewrite.
        var failure: JournalIOError?
        if readAll {
            do throws(JournalIOError) {
                try JournalCompactor.compact(store, now: now)
                report.compacted = true
                return report
            } catch {
                failure = error
                report.problems.append("compaction failed, appending to the old journal: \(error)")
            }
        }
        guard case .current(let marker, _) = kind, let size = try? storage.size() else {
            throw failure ?? JournalIOError("size", path: "journal", code: 5)
        }
        journal.attach(marker: marker, end: size)
        return report
    }
}
