/// A new journal file being written beside the current one, with a marker of its own: the
/// file header, then frames sealed for their offsets in it. Nothing reads it until `commit`
/// renames it over the journal.
final class JournalRewrite {
    let marker = JournalFrame.newMarker()
    private let replacement: any JournalReplacement
    private(set) var end: Int64 = 0

    init(_ storage: any JournalStorage) throws(JournalIOError) {
        replacement = try storage.beginReplacement()
        let header = JournalFrame.fileHeader(marker: marker)
        do {
            try replacement.write(header, at: 0)
        } catch {
            replacement.abandon()
            throw error
        }
        end = Int64(header.count)
    }

    func append(_ record: JournalRecord) throws(JournalIOError) {
        var frame = PreparedFrame(record)
        try append(&frame)
    }

    func append(_ frame: inout PreparedFrame) throws(JournalIOError) {
        frame.seal(marker: marker, offset: end)
        try replacement.write(frame.bytes, at: end)
        end += Int64(frame.count)
    }

    /// fsync ahead of `commit`, so the final step under the journal's lock has little left to flush.
    func sync() throws(JournalIOError) { try replacement.sync() }

    func commit() throws(JournalIOError) { try replacement.commit() }

    func abandon() { replacement.abandon() }
}
