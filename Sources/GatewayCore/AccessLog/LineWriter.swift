/// A cursor over room reserved beforehand for a whole access log line: every write is a plain
/// store, with no capacity check per byte (the encoder reserves the worst case once per line).
struct LineWriter {
    private(set) var p: UnsafeMutablePointer<UInt8>

    init(_ p: UnsafeMutablePointer<UInt8>) { self.p = p }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        p.pointee = byte
        p += 1
    }

    @inline(__always)
    mutating func put(_ text: StaticString) {
        p.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        p += text.utf8CodeUnitCount
    }

    mutating func decimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, no heap
        withUnsafeMutableBytes(of: &digits) { scratch in
            var n = value, i = scratch.count
            repeat {
                i -= 1
                scratch[i] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
            } while n > 0
            p.update(from: scratch.baseAddress!.assumingMemoryBound(to: UInt8.self) + i, count: scratch.count - i)
            p += scratch.count - i
        }
    }

    /// `value` zero-padded to `width` digits.
    @inline(__always)
    mutating func digits(_ value: Int, _ width: Int) {
        var rest = value
        for i in stride(from: width - 1, through: 0, by: -1) {
            p[i] = UInt8(truncatingIfNeeded: 48 + rest % 10)
            rest /= 10
        }
        p += width
    }

    mutating func hex(_ value: UInt32) {
        for shift in stride(from: 28, through: 0, by: -4) { put(Self.hexDigit(UInt8((value >> UInt32(shift)) & 0xF))) }
    }

    /// JSON string content: quotes, backslashes and control characters escaped, well-formed UTF-8
    /// kept, each ill-formed sequence replaced by U+FFFD. At most 6 bytes out per byte in.
    mutating func escaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b >= 0x20 && b < 0x80 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { put(UInt8(ascii: "\\")) }
                put(b)
                i += 1
            } else if b < 0x20 {
                put("\\u00")
                put(Self.hexDigit(b >> 4))
                put(Self.hexDigit(b & 0xF))
                i += 1
            } else {
                let length = JSONEscaping.validSequenceLength(bytes, at: i)
                if length > 0 {
                    for k in i..<(i + length) { put(bytes[k]) }
                    i += length
                } else {
                    for byte in JSONEscaping.replacementCharacter { put(byte) }
                    i += max(1, -length)
                }
            }
        }
    }

    /// Text-format content: printable ASCII but quotes and backslashes as is, anything else as
    /// `\xHH`, so a value never splits the line or its fields. At most 4 bytes out per byte in.
    mutating func plain(_ bytes: UnsafeBufferPointer<UInt8>) {
        for b in bytes {
            if b > 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                put(b)
            } else {
                put("\\x")
                put(Self.hexDigit(b >> 4))
                put(Self.hexDigit(b & 0xF))
            }
        }
    }

    /// `2026-11-30T12:00:00.123Z`: RFC 3339 in UTC with milliseconds.
    mutating func time(wallMillis: UInt64) {
        let seconds = Int64(wallMillis / 1000)
        let days = seconds / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = HTTPDateLine.civil(fromDays: days)
        digits(Int(year), 4)
        put(UInt8(ascii: "-"))
        digits(month, 2)
        put(UInt8(ascii: "-"))
        digits(day, 2)
        put(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2)
        put(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2)
        put(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        put(UInt8(ascii: "."))
        digits(Int(wallMillis % 1000), 3)
        put(UInt8(ascii: "Z"))
    }

    /// Lower-case hex digit of a nibble.
    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }
}
