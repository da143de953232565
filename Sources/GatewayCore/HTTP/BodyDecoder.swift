/// Walks a message body delimited by Content-Length, chunked coding, or connection close, and
/// hands back where the payload bytes are, so they can be forwarded in place without copying.
public struct BodyDecoder: Sendable {
    public enum Step: Sendable, Equatable {
        /// Payload at `offset..<offset+length` of the input; `consumed` bytes (framing included) are done.
        case data(offset: Int, length: Int, consumed: Int)
        /// All input up to `consumed` was framing; more bytes are needed.
        case needMore(consumed: Int)
        /// The body ended after `consumed` bytes.
        case end(consumed: Int)
        case failed(StaticStringBox)
    }

    private enum State: Sendable {
        case length(remaining: Int64)
        case untilClose
        case chunkSize(value: Int64, digits: Int)
        /// Whitespace after the size, allowed only before a `;` (BWS, RFC 9112 §7.1.1).
        case chunkSizeBWS(size: Int64, length: Int)
        case chunkExtension(size: Int64, length: Int)
        case chunkSizeLineFeed(size: Int64)
        case chunkData(remaining: Int64)
        case chunkDataCR, chunkDataLF
        case trailerLineStart(total: Int)
        case trailerName(total: Int)
        case trailerValue(total: Int)
        case trailerLineFeed(total: Int, empty: Bool)
        case done
    }

    private var state: State
    /// Bytes of payload seen so far, for body-size limits.
    public private(set) var payloadBytes: Int64 = 0

    /// Chunk extensions and trailers are parsed and dropped; bound them so they cannot be a DoS.
    /// The extension bound also caps a chunk-size line's leading zeros and whitespace.
    static let maxChunkExtension = 4096
    static let maxTrailerSize = 8192

    public init(framing: BodyFraming) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n > 0 ? .length(remaining: n) : .done
        case .chunked: state = .chunkSize(value: 0, digits: 0)
        case .untilClose: state = .untilClose
        }
    }

    public var isDone: Bool { if case .done = state { return true } else { return false } }

    /// A body delimited by close ends when the peer closes; anything else would be truncation.
    public var endsAtClose: Bool { if case .untilClose = state { return true } else { return false } }

    public mutating func next(_ p: UnsafePointer<UInt8>, count: Int) -> Step {
        var i = 0
        while true {
            switch state {
            case .done:
                return .end(consumed: i)
            case .untilClose:
                if i == count { return .needMore(consumed: i) }
                payloadBytes += Int64(count - i)
                return .data(offset: i, length: count - i, consumed: count)
            case .length(let remaining):
                if i == count { return .needMore(consumed: i) }
                let n = Int(min(remaining, Int64(count - i)))
                payloadBytes += Int64(n)
                state = remaining == Int64(n) ? .done : .length(remaining: remaining - Int64(n))
                return .data(offset: i, length: n, consumed: i + n)
            case .chunkData(let remaining):
                if i == count { return .needMore(consumed: i) }
                let n = Int(min(remaining, Int64(count - i)))
                payloadBytes += Int64(n)
                state = remaining == Int64(n) ? .chunkDataCR : .chunkData(remaining: remaining - Int64(n))
                return .data(offset: i, length: n, consumed: i + n)
            default:
                if i == count { return .needMore(consumed: i) }
                if let failure = advanceFraming(p[i]) { return .failed(failure) }
                i += 1
            }
        }
    }

    /// One byte of chunk framing (size line, CRLF after data, trailers).
    private mutating func advanceFraming(_ b: UInt8) -> StaticStringBox? {
        switch state {
        case .chunkSize(let value, let digits):
            if let d = Self.hexValue(b) {
                // Leading zeros are fine (as in nginx and HAProxy); 15 significant digits are the limit.
                if value >= 1 << 56 || digits >= Self.maxChunkExtension { return "chunk size too large" }
                state = .chunkSize(value: value << 4 | Int64(d), digits: digits + 1)
            } else if digits == 0 {
                return "invalid chunk size"
            } else if b == UInt8(ascii: ";") {
                state = .chunkExtension(size: value, length: 0)
            } else if b == 0x0D {
                state = .chunkSizeLineFeed(size: value)
            } else if b == 0x20 || b == 0x09 {
                state = .chunkSizeBWS(size: value, length: 1)
            } else {
                return "invalid chunk size"
            }
        case .chunkSizeBWS(let size, let length):
            if b == UInt8(ascii: ";") {
                state = .chunkExtension(size: size, length: length)
            } else if (b == 0x20 || b == 0x09) && length < Self.maxChunkExtension {
                state = .chunkSizeBWS(size: size, length: length + 1)
            } else {
                return "invalid chunk size"
            }
        case .chunkExtension(let size, let length):
            if b == 0x0D {
                state = .chunkSizeLineFeed(size: size)
            } else if length >= Self.maxChunkExtension || !ByteClass.fieldValue[Int(b)] {
                return "invalid or oversized chunk extension"
            } else {
                state = .chunkExtension(size: size, length: length + 1)
            }
        case .chunkSizeLineFeed(let size):
            if b != 0x0A { return "chunk size line not terminated by CRLF" }
            state = size == 0 ? .trailerLineStart(total: 0) : .chunkData(remaining: size)
        case .chunkDataCR:
            if b != 0x0D { return "chunk data not followed by CRLF" }
            state = .chunkDataLF
        case .chunkDataLF:
            if b != 0x0A { return "chunk data not followed by CRLF" }
            state = .chunkSize(value: 0, digits: 0)
        case .trailerLineStart(let total):
            state = b == 0x0D ? .trailerLineFeed(total: total, empty: true) : .trailerName(total: total + 1)
            if b != 0x0D && !ByteClass.token[Int(b)] { return "invalid trailer field" }
        case .trailerName(let total):
            // A field line needs its colon (RFC 9112 §7.1.2): without this rule, a request pipelined
            // after a body that lacks its final CRLF would be swallowed as a trailer.
            if total >= Self.maxTrailerSize { return "trailer section too large" }
            if b == UInt8(ascii: ":") {
                state = .trailerValue(total: total + 1)
            } else if b == 0x0D {
                return "trailer line without a colon"
            } else if !ByteClass.token[Int(b)] {
                return "invalid trailer field"
            } else {
                state = .trailerName(total: total + 1)
            }
        case .trailerValue(let total):
            if total >= Self.maxTrailerSize { return "trailer section too large" }
            if b == 0x0D {
                state = .trailerLineFeed(total: total, empty: false)
            } else if !ByteClass.fieldValue[Int(b)] {
                return "invalid trailer field"
            } else {
                state = .trailerValue(total: total + 1)
            }
        case .trailerLineFeed(let total, let empty):
            if b != 0x0A { return "trailer line not terminated by CRLF" }
            state = empty ? .done : .trailerLineStart(total: total)
        default:
            break
        }
        return nil
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - 48)
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - 87)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - 55)
        default: return nil
        }
    }
}
