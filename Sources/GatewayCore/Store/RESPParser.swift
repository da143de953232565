/// Reads one RESP2 or RESP3 reply from the front of a buffer, sans I/O: bytes in, a value and how
/// many bytes it took out, or "need more". A reply cut short is parsed again from its start when
/// more bytes arrive; that costs little, as a bulk string's payload is never scanned, only its
/// length checked against what is there. A server that sends something else is refused: the
/// connection is then closed, as nothing after it can be trusted.
public enum RESPParser {
    public enum Result: Equatable {
        case value(RESPValue, consumed: Int)
        case needMore
        case invalid(String)
    }

    /// Bounds that keep a broken or hostile server from making the gateway allocate without end.
    public static let maxBulkLength = 512 << 20
    public static let maxElements = 1 << 20
    public static let maxDepth = 32

    public static func parse(_ bytes: UnsafePointer<UInt8>, count: Int) -> Result {
        var reader = Reader(base: bytes, end: count)
        do {
            guard let value = try reader.value(depth: 0) else { return .needMore }
            return .value(value, consumed: reader.position)
        } catch {
            return .invalid(error.reason)
        }
    }

    public static func parse(_ bytes: [UInt8]) -> Result {
        bytes.withUnsafeBufferPointer { parse($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count) }
    }

    struct Malformed: Error {
        let reason: String
    }

    private struct Reader {
        let base: UnsafePointer<UInt8>
        let end: Int
        var position = 0

        /// nil: the reply is not complete yet.
        mutating func value(depth: Int) throws(Malformed) -> RESPValue? {
            guard depth < RESPParser.maxDepth else { throw Malformed(reason: "replies nested deeper than \(RESPParser.maxDepth)") }
            guard position < end else { return nil }
            let kind = base[position]
            position += 1
            guard let line = self.line() else { return nil }
            switch kind {
            case UInt8(ascii: "+"): return .simple(Array(line))
            case UInt8(ascii: "-"): return .error(Array(line))
            case UInt8(ascii: ":"): return .integer(try Self.integer(line))
            case UInt8(ascii: "("): return .bigNumber(Array(line))
            case UInt8(ascii: "_"): return .null
            case UInt8(ascii: "#"):
                guard line.count == 1, line[0] == UInt8(ascii: "t") || line[0] == UInt8(ascii: "f") else {
                    throw Malformed(reason: "a boolean that is neither t nor f")
                }
                return .boolean(line[0] == UInt8(ascii: "t"))
            case UInt8(ascii: ","):
                guard let double = Double(String(decoding: line, as: UTF8.self)) else { throw Malformed(reason: "a malformed double") }
                return .double(double)
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                let length = try Self.integer(line)
                if length == -1 && kind == UInt8(ascii: "$") { return .null }
                guard let payload = try blob(length) else { return nil }
                if kind == UInt8(ascii: "!") { return .error(payload) }
                // A verbatim string starts with its format, `txt:` or `mkd:`.
                if kind == UInt8(ascii: "=") { return .bulk(payload.count >= 4 ? Array(payload[4...]) : payload) }
                return .bulk(payload)
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                let count = try Self.integer(line)
                if count == -1 && kind == UInt8(ascii: "*") { return .null }
                guard count >= 0, count <= RESPParser.maxElements else { throw Malformed(reason: "an aggregate of \(count) elements") }
                let items = kind == UInt8(ascii: "%") || kind == UInt8(ascii: "|") ? Int(count) * 2 : Int(count)
                var elements: [RESPValue] = []
                elements.reserveCapacity(min(items, 1024))
                for _ in 0..<items {
                    guard let element = try value(depth: depth + 1) else { return nil }
                    elements.append(element)
                }
                switch kind {
                case UInt8(ascii: "%"): return .map(elements)
                case UInt8(ascii: ">"): return .push(elements)
                // Attributes describe the reply that follows them; this client has no use for them.
                case UInt8(ascii: "|"): return try value(depth: depth + 1)
                default: return .array(elements)
                }
            default:
                throw Malformed(reason: "an unknown reply type byte 0x\(String(kind, radix: 16))")
            }
        }

        /// The rest of the current line, without its CRLF; nil when the CRLF has not arrived.
        private mutating func line() -> UnsafeBufferPointer<UInt8>? {
            var i = position
            while i + 1 < end {
                if base[i] == 0x0D && base[i + 1] == 0x0A {
                    let line = UnsafeBufferPointer(start: base + position, count: i - position)
                    position = i + 2
                    return line
                }
                i += 1
            }
            return nil
        }

        private mutating func blob(_ length: Int64) throws(Malformed) -> [UInt8]? {
            guard length >= 0, length <= Int64(RESPParser.maxBulkLength) else { throw Malformed(reason: "a string of \(length) bytes") }
            let count = Int(length)
            guard end - position >= count + 2 else { return nil }
            guard base[position + count] == 0x0D, base[position + count + 1] == 0x0A else {
                throw Malformed(reason: "a string not followed by CRLF")
            }
            defer { position += count + 2 }
            return Array(UnsafeBufferPointer(start: base + position, count: count))
        }

        private static func integer(_ line: UnsafeBufferPointer<UInt8>) throws(Malformed) -> Int64 {
            var i = 0, negative = false
            if line.count > 0 && (line[0] == UInt8(ascii: "-") || line[0] == UInt8(ascii: "+")) {
                negative = line[0] == UInt8(ascii: "-")
                i = 1
            }
            guard i < line.count, line.count - i <= 19 else { throw Malformed(reason: "a malformed integer") }
            var value: Int64 = 0
            while i < line.count {
                let digit = line[i] &- UInt8(ascii: "0")
                guard digit < 10 else { throw Malformed(reason: "a malformed integer") }
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int64(digit))
                guard !o1 && !o2 else { throw Malformed(reason: "an integer out of range") }
                value = sum
                i += 1
            }
            return negative ? -value : value
        }
    }
}
