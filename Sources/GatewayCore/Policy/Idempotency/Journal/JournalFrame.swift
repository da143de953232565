/// Journal format 2, integers little-endian:
///
///     file header  "GWIJ", version u32 (2), marker (16 random bytes), check (16)
///     each frame   marker (16), payload length u32, check (16), payload
///
/// A frame's check is SHA-256(marker, the frame's file offset u64, length, SHA-256(payload)),
/// cut to 16 bytes. The marker is drawn afresh for every file, and the check binds a frame to
/// the place it was written, so after damage the reader resynchronises only on a real frame: a
/// stored response body that contains bytes of a frame (from this file or any other) never
/// passes for one, as those bytes sit at another offset. Format 1 ("GWI1" frames, API keys
/// identified by their position in the key list) is recognised only to report it.
enum JournalFrame {
    static let magic: [UInt8] = Array("GWIJ".utf8)
    static let version: UInt32 = 2
    static let markerSize = 16
    static let checkSize = 16
    static let fileHeaderSize = 4 + 4 + markerSize + checkSize
    static let headerSize = markerSize + 4 + checkSize

    /// A fresh marker for a new file.
    static func newMarker() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<markerSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func fileHeader(marker: [UInt8]) -> [UInt8] {
        var header = magic
        for i in 0..<4 { header.append(UInt8(truncatingIfNeeded: version >> (8 * UInt32(i)))) }
        header += marker
        header += digest(header[...]).prefix(checkSize)
        return header
    }

    /// The marker of a well-formed file header, else nil.
    static func marker(fromFileHeader header: ArraySlice<UInt8>) -> [UInt8]? {
        guard header.count >= fileHeaderSize else { return nil }
        let start = header.startIndex
        let body = header[start..<start + fileHeaderSize - checkSize]
        guard body.prefix(4).elementsEqual(magic), body.dropFirst(4).prefix(4).elementsEqual([2, 0, 0, 0]),
              digest(body).prefix(checkSize).elementsEqual(header[start + fileHeaderSize - checkSize..<start + fileHeaderSize])
        else { return nil }
        return Array(body.suffix(markerSize))
    }

    /// The check of a frame at `offset` whose payload has digest `payloadDigest`.
    static func check(marker: [UInt8], offset: Int64, length: Int, payloadDigest: [UInt8]) -> [UInt8] {
        var input = marker
        input.reserveCapacity(markerSize + 12 + payloadDigest.count)
        for i in 0..<8 { input.append(UInt8(truncatingIfNeeded: UInt64(offset) >> (8 * UInt64(i)))) }
        for i in 0..<4 { input.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
        input += payloadDigest
        return Array(digest(input[...]).prefix(checkSize))
    }

    static func digest(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: KeyHash.digestLength)
        bytes.withUnsafeBytes { p in
            out.withUnsafeMutableBufferPointer { KeyHash.sha256(p.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: p.count, into: $0.baseAddress!) }
        }
        return out
    }
}

/// A record encoded behind room for its frame header: the payload digest (the expensive part)
/// is computed once, before any lock; `seal` fills in the header for the place it is written.
struct PreparedFrame {
    private(set) var bytes: [UInt8]
    let payloadDigest: [UInt8]

    /// `bytes` holds `JournalFrame.headerSize` bytes of room, then the payload.
    init(room bytes: [UInt8]) {
        self.bytes = bytes
        payloadDigest = JournalFrame.digest(bytes[JournalFrame.headerSize...])
    }

    init(payload: ArraySlice<UInt8>, payloadDigest: [UInt8]) {
        bytes = [UInt8](repeating: 0, count: JournalFrame.headerSize)
        bytes.reserveCapacity(JournalFrame.headerSize + payload.count)
        bytes += payload
        self.payloadDigest = payloadDigest
    }

    init(_ record: JournalRecord) {
        self.init(room: record.encode(reserving: JournalFrame.headerSize))
    }

    var count: Int { bytes.count }

    mutating func seal(marker: [UInt8], offset: Int64) {
        let length = bytes.count - JournalFrame.headerSize
        let check = JournalFrame.check(marker: marker, offset: offset, length: length, payloadDigest: payloadDigest)
        bytes.withUnsafeMutableBufferPointer { out in
            for i in 0..<JournalFrame.markerSize { out[i] = marker[i] }
            for i in 0..<4 { out[JournalFrame.markerSize + i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
            for i in 0..<JournalFrame.checkSize { out[JournalFrame.markerSize + 4 + i] = check[i] }
        }
    }
}
