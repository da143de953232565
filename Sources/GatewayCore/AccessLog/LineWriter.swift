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
        copy(UnsafeRawPointer(text.utf8Start), text.utf8CodeUnitCount)
    }

    /// Bytes copied as they are (already escaped, or known to need no escaping).
    @inline(__always)
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        copy(UnsafeRawPointer(base), bytes.count)
    }

    /// Eight bytes at a time, then the tail: the pieces of a line are short, and a memmove call
    /// for each would cost more than the copying.
    @inline(__always)
    private mutating func copy(_ source: UnsafeRawPointer, _ count: Int) {
        var i = 0
        while i + 8 <= count {
            UnsafeMutableRawPointer(p + i).storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: UInt64.self), as: UInt64.self)
            i += 8
        }
        while i < count {
            p[i] = source.load(fromByteOffset: i, as: UInt8.self)
            i += 1
        }
        p += count
    }

    mutating func decimal(_ value: UInt64) {
        var count = 1, rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        rest = value
        for i in stride(from: count - 1, through: 0, by: -1) {
            p[i] = UInt8(truncatingIfNeeded: 48 + rest % 10)
            rest /= 10
        }
        p += count
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
    /// kept, each ill-formed sequence replaced by U+FFFD. At most 6 bytes out per byte in. Runs of
    /// bytes that need nothing (nearly all of them) are found first and copied whole.
    mutating func escaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress else { return }
        var i = 0, run = 0
        while i < bytes.count {
            // Eight bytes at a time while none of them needs anything.
            if i + 8 <= bytes.count && !Self.needsEscaping(UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) {
                i += 8
                continue
            }
            let b = bytes[i]
            if b >= 0x20 && b < 0x80 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            put(UnsafeBufferPointer(rebasing: bytes[run..<i]))
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                put(UInt8(ascii: "\\"))
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
                    put(UnsafeBufferPointer(rebasing: bytes[i..<(i + length)]))
                    i += length
                } else {
                    for byte in JSONEscaping.replacementCharacter { put(byte) }
                    i += max(1, -length)
                }
            }
            run = i
        }
        put(UnsafeBufferPointer(rebasing: bytes[run..<i]))
    }

    /// Whether any of eight bytes is a control character, non-ASCII, a quote or a backslash (the
    /// classic SWAR tests for a byte below a bound and for a zero byte).
    @inline(__always)
    static func needsEscaping(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        let control = (word &- 0x20 &* ones) & ~word & highs != 0
        return word & highs != 0 || control || hasZero(word ^ (0x22 &* ones)) || hasZero(word ^ (0x5C &* ones))
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
