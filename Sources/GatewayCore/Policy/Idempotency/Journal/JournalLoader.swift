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
}

/// Start-up: replays the journal into the store, then compacts it. Damage never stops the
/// gateway: damaged stretches are skipped and reported, and whatever was intact is restored.
public enum JournalLoader {
    /// Bound on one record's payload: the largest storable response plus key and metadata, so a
    /// corrupted length cannot make the reader swallow the rest of the file as one record.
    static let maxPayload = IdempotencyConfig.maxResponseSizeLimit + (128 << 10)

    public static func load(_ storage: any JournalStorage, into store: IdempotencyStore, now: UInt64) -> JournalLoadReport {
        var report = JournalLoadReport()
        var scanner = JournalScanner(storage: storage, maxPayload: maxPayload)
        var live: [IdempotencyCacheKey: (sequence: Int, entry: SettledEntry)] = [:]
        var readAll = true
        do throws(JournalIOError) {
            while let payload = try scanner.next() {
                guard let record = JournalRecord(decoding: payload) else {
                    report.bytesSkipped += JournalFrame.headerSize + payload.count
                    report.problems.append("undecodable record of \(payload.count) bytes skipped")
                    continue
                }
                report.recordsLoaded += 1
                switch record {
                case .settled(let key, let entry): live[key] = (report.recordsLoaded, entry)
                case .removed(let key): live[key] = nil
                }
            }
        } catch {
            readAll = false
            report.problems.append("reading stopped: \(error)")
        }
        report.bytesSkipped += scanner.bytesSkipped
        report.problems = scanner.problems + report.problems

        // Deadline order, so every shard list is filled in the order it expires.
        let entries = live.filter { $0.value.entry.deadline > now }
            .sorted { ($0.value.entry.deadline, $0.value.sequence) < ($1.value.entry.deadline, $1.value.sequence) }
        var evicted: Set<IdempotencyCacheKey> = []
        for (key, value) in entries { evicted.formUnion(store.restore(key, value.entry, now: now)) }
        report.entriesRestored = entries.count - evicted.count

        // A journal that could not be read to the end keeps its unread records: no rewrite.
        guard readAll else { return report }
        do throws(JournalIOError) {
            let replacement = try storage.beginReplacement()
            for (key, value) in entries where !evicted.contains(key) {
                try replacement.append(JournalFrame.encode(.settled(key, value.entry)))
            }
            try replacement.commit()
            report.compacted = true
        } catch {
            report.problems.append("compaction failed, appending to the old journal: \(error)")
        }
        return report
    }
}
