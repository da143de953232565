/// Reads the frames of a format-2 journal front to back, in bounded chunks, skipping damaged
/// stretches: after a bad frame it moves on byte by byte to the next marker that starts a frame
/// whose check holds at that offset.
struct JournalScanner {
    struct Frame {
        let payload: ArraySlice<UInt8>
        let offset: Int64
        let payloadDigest: [UInt8]
        var size: Int { JournalFrame.headerSize + payload.count }
    }

    private let storage: any JournalStorage
    private let marker: [UInt8]
    private let maxPayload: Int
    /// Where reading stops (exclusive); nil for the end of the file.
    private let limit: Int64?
    private var buffer: [UInt8] = []
    private var position = 0
    /// File offset of `buffer[0]`.
    private var base: Int64
    private var atEOF = false
    private var skipStart: (offset: Int64, reason: String)?
    private(set) var bytesSkipped = 0
    private(set) var problems: [String] = []

    init(storage: any JournalStorage, marker: [UInt8], maxPayload: Int, from start: Int64, to limit: Int64? = nil) {
        self.storage = storage
        self.marker = marker
        self.maxPayload = maxPayload
        self.limit = limit
        base = start
    }

    /// File offset of the next byte to read.
    var offset: Int64 { base + Int64(position) }

    /// The frame right here, if one starts here; nothing is skipped.
    mutating func frameHere() throws(JournalIOError) -> Frame? {
        if case .frame(let frame) = try frame() { return frame }
        return nil
    }

    /// The next intact frame, or nil at the end.
    mutating func next() throws(JournalIOError) -> Frame? {
        while true {
            switch try frame() {
            case .frame(let frame):
                endSkip()
                position += frame.size
                return frame
            case .end:
                endSkip()
                return nil
            case .damaged(let reason):
                if skipStart == nil { skipStart = (offset, reason) }
                position += 1
            }
        }
    }

    private enum Step {
        case frame(Frame)
        case end
        case damaged(String)
    }

    private mutating func frame() throws(JournalIOError) -> Step {
        let complete = try ensure(JournalFrame.headerSize)
        let available = buffer.count - position
        if available == 0 { return .end }
        for i in 0..<min(JournalFrame.markerSize, available) where buffer[position + i] != marker[i] {
            return .damaged("no record marker")
        }
        guard complete else { return .damaged("truncated record") }
        var length = 0
        for i in 0..<4 { length |= Int(buffer[position + JournalFrame.markerSize + i]) << (8 * i) }
        guard length <= maxPayload else { return .damaged("implausible record length \(length)") }
        guard try ensure(JournalFrame.headerSize + length) else { return .damaged("truncated record") }
        let start = position + JournalFrame.headerSize
        let payload = buffer[start..<start + length]
        let digest = JournalFrame.digest(payload)
        let check = JournalFrame.check(marker: marker, offset: offset, length: length, payloadDigest: digest)
        guard check.elementsEqual(buffer[position + JournalFrame.markerSize + 4..<start]) else { return .damaged("checksum mismatch") }
        return .frame(Frame(payload: payload, offset: offset, payloadDigest: digest))
    }

    /// Whether `count` bytes from `position` are buffered (and before `limit`), reading more when needed.
    private mutating func ensure(_ count: Int) throws(JournalIOError) -> Bool {
        while buffer.count - position < count && !atEOF {
            if position > 0 {
                buffer.removeSubrange(0..<position)
                base += Int64(position)
                position = 0
            }
            var want = max(count - buffer.count, 1 << 20)
            if let limit { want = min(want, Int(limit - base) - buffer.count) }
            if want <= 0 {
                atEOF = true
            } else {
                atEOF = try storage.read(at: base + Int64(buffer.count), maxBytes: want, into: &buffer) == 0
            }
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

/// What a journal file turned out to be.
enum JournalFileKind: Equatable {
    case empty
    /// Format 2; `recovered` when the file header was damaged and the marker came from the first frame.
    case current(marker: [UInt8], recovered: Bool)
    /// Format 1: entries keyed by the API key's position in the key list, so they cannot be
    /// attributed safely once that list changes. Never restored.
    case format1
    case unknown
}

extension JournalFileKind {
    /// Reads the file header (and, if it is damaged, the first frame).
    static func detect(_ storage: any JournalStorage) throws(JournalIOError) -> JournalFileKind {
        var head: [UInt8] = []
        _ = try storage.read(at: 0, maxBytes: JournalFrame.fileHeaderSize + JournalFrame.headerSize, into: &head)
        if head.isEmpty { return .empty }
        if let marker = JournalFrame.marker(fromFileHeader: head[...]) { return .current(marker: marker, recovered: false) }
        if head.starts(with: Array("GWI1".utf8)) { return .format1 }
        guard head.count >= JournalFrame.fileHeaderSize + JournalFrame.markerSize else { return .unknown }
        let marker = Array(head[JournalFrame.fileHeaderSize..<JournalFrame.fileHeaderSize + JournalFrame.markerSize])
        var scanner = JournalScanner(storage: storage, marker: marker, maxPayload: JournalLoader.maxPayload,
                                     from: Int64(JournalFrame.fileHeaderSize))
        return try scanner.frameHere() != nil ? .current(marker: marker, recovered: true) : .unknown
    }
}
