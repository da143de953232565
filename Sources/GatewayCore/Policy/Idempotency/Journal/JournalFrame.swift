import COpenSSL

/// How records sit in the journal: marker "GWI1", payload length (u32 little-endian),
/// SHA-256 of the payload, payload. The marker lets a reader find the next record after damage.
enum JournalFrame {
    static let marker: [UInt8] = Array("GWI1".utf8)
    static let headerSize = 4 + 4 + 32

    static func encode(_ record: JournalRecord) -> [UInt8] {
        let payload = record.encode()
        var frame = marker
        frame.reserveCapacity(headerSize + payload.count)
        for i in 0..<4 { frame.append(UInt8(truncatingIfNeeded: payload.count >> (8 * i))) }
        frame.append(contentsOf: checksum(payload[...]))
        frame.append(contentsOf: payload)
        return frame
    }

    static func checksum(_ payload: ArraySlice<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        payload.withUnsafeBytes { p in
            _ = EVP_Digest(p.baseAddress, p.count, &digest, nil, KeyHash.algorithm, nil)
        }
        return digest
    }
}

/// Reads frames front to back, in bounded chunks, skipping damaged stretches: after a bad frame
/// it looks for the next marker that starts a frame whose checksum holds.
struct JournalScanner {
    private let storage: any JournalStorage
    private let maxPayload: Int
    private var buffer: [UInt8] = []
    private var position = 0
    /// File offset of `buffer[0]`.
    private var base: Int64 = 0
    private var atEOF = false
    private var skipStart: (offset: Int64, reason: String)?
    private(set) var bytesSkipped = 0
    private(set) var problems: [String] = []

    init(storage: any JournalStorage, maxPayload: Int) {
        self.storage = storage
        self.maxPayload = maxPayload
    }

    /// The next intact payload, or nil at the end of the journal.
    mutating func next() throws(JournalIOError) -> ArraySlice<UInt8>? {
        while true {
            switch try frame() {
            case .payload(let range):
                endSkip()
                position = range.upperBound
                return buffer[range]
            case .end:
                endSkip()
                return nil
            case .damaged(let reason):
                if skipStart == nil { skipStart = (offset, reason) }
                position += 1
            }
        }
    }

    private enum Frame {
        case payload(Range<Int>)
        case end
        case damaged(String)
    }

    private var offset: Int64 { base + Int64(position) }

    private mutating func frame() throws(JournalIOError) -> Frame {
        let complete = try ensure(JournalFrame.headerSize)
        let available = buffer.count - position
        if available == 0 { return .end }
        for i in 0..<min(4, available) where buffer[position + i] != JournalFrame.marker[i] { return .damaged("no record marker") }
        guard complete else { return .damaged("truncated record") }
        var length = 0
        for i in 0..<4 { length |= Int(buffer[position + 4 + i]) << (8 * i) }
        guard length <= maxPayload else { return .damaged("implausible record length \(length)") }
        guard try ensure(JournalFrame.headerSize + length) else { return .damaged("truncated record") }
        let payload = position + JournalFrame.headerSize..<position + JournalFrame.headerSize + length
        let stored = buffer[position + 8..<position + JournalFrame.headerSize]
        guard JournalFrame.checksum(buffer[payload]).elementsEqual(stored) else { return .damaged("checksum mismatch") }
        return .payload(payload)
    }

    /// Whether `count` bytes from `position` are buffered, reading more when needed.
    private mutating func ensure(_ count: Int) throws(JournalIOError) -> Bool {
        while buffer.count - position < count && !atEOF {
            if position > 0 {
                buffer.removeSubrange(0..<position)
                base += Int64(position)
                position = 0
            }
            let want = max(count - buffer.count, 1 << 20)
            atEOF = try storage.read(at: base + Int64(buffer.count), maxBytes: want, into: &buffer) == 0
        }
        return buffer.count - position >= count
    }

    private mutating func endSkip() {
        guard let (start, reason) = skipStart else { return }
        let skipped = Int(offset - start)
        bytesSkipped += skipped
        if problems.count < 8 { problems.append("\(reason) at offset \(start); skipped \(skipped) bytes") }
        skipStart = nil
    }
}
