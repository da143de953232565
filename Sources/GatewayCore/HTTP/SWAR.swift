/// Eight bytes at a time ("SWAR", SIMD within a register) for the parsers' per-byte loops. A
/// word test marks the bytes it can vouch for cheaply (letters, digits and `-` in a header
/// name, say); they are skipped together, and the first byte it does not vouch for is asked of
/// the exact `ByteClass` table. Every scan therefore answers exactly as the table would (the
/// tests compare them for every byte value at every position).
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Eight bytes from `p` (any alignment), the first in the lowest byte.
    @inline(__always) static func load(_ p: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
    }

    /// The high bit of each byte of `w` that lies in `low...high`, for a `w` whose bytes are all
    /// below 0x80. Adding `0x80 - low` sets a byte's high bit from `low` up, adding `0x7F - high`
    /// from above `high`; no carry crosses into the next byte, as a byte below 0x80 plus at most
    /// 0x80 stays below 0x100.
    @inline(__always) static func bytes(in w: UInt64, _ low: UInt8, _ high: UInt8) -> UInt64 {
        (w &+ ones &* UInt64(0x80 - low)) & ~(w &+ ones &* UInt64(0x7F - high)) & highBits
    }

    // What a word test vouches for: the high bit of each byte that certainly passes. Bytes from
    // 0x80 up are tested on their high bit alone, the rest on `w & ~highBits` (as `bytes(in:)` needs).

    /// Letters, digits and `-`, the tchars header names are made of. OR-ing 0x20 turns exactly
    /// A-Z and a-z into a-z.
    @inline(__always) static func alphanumericOrHyphen(_ w: UInt64) -> UInt64 {
        let low = w & ~highBits
        let letters = bytes(in: low | (ones &* 0x20), 0x61, 0x7A)
        return (letters | bytes(in: low, 0x30, 0x39) | bytes(in: low, 0x2D, 0x2D)) & ~w
    }

    /// Bytes equal to `byte` (below 0x80).
    @inline(__always) static func equal(_ w: UInt64, _ byte: UInt8) -> UInt64 {
        bytes(in: w & ~highBits, byte, byte) & ~w
    }

    /// Letters, digits, `-` and `.`: what host names and IPv4 addresses are made of.
    @inline(__always) static func hostname(_ w: UInt64) -> UInt64 {
        alphanumericOrHyphen(w) | equal(w, UInt8(ascii: "."))
    }

    /// Field-value bytes other than HTAB: SP to `~`, and obs-text (0x80 and up).
    @inline(__always) static func plainFieldValue(_ w: UInt64) -> UInt64 {
        (bytes(in: w & ~highBits, 0x20, 0x7E) | w) & highBits
    }

    /// Request-target bytes (visible ASCII without `#`), without `?` when `query` is false.
    @inline(__always) static func target(_ w: UInt64, query: Bool) -> UInt64 {
        let low = w & ~highBits
        let refused = bytes(in: low, 0x23, 0x23) | (query ? 0 : bytes(in: low, 0x3F, 0x3F))
        return bytes(in: low, 0x21, 0x7E) & ~refused & ~w
    }

    /// The end of a header name starting at `start`: the first byte before `end` that is no tchar.
    static func tokenEnd(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        firstRefused(p, from: start, to: end, vouched: alphanumericOrHyphen) { ByteClass.token[Int($0)] }
    }

    /// The first byte in `start..<end` that may not appear in a field value, or `end`.
    static func fieldValueEnd(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        firstRefused(p, from: start, to: end, vouched: plainFieldValue) { ByteClass.fieldValue[Int($0)] }
    }

    /// The end of a request target's path starting at `start`: the first `?` or byte that is no
    /// target byte before `end`.
    static func pathEnd(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        firstRefused(p, from: start, to: end, vouched: { target($0, query: false) }) {
            ByteClass.target[Int($0)] && $0 != UInt8(ascii: "?")
        }
    }

    /// The end of the rest of a request target (its query): the first byte that is no target byte.
    static func targetEnd(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        firstRefused(p, from: start, to: end, vouched: { target($0, query: true) }) { ByteClass.target[Int($0)] }
    }

    /// The index of the first byte in `start..<end` that `byte` refuses, or `end`. A word at a
    /// time: the bytes `vouched` marks are skipped together, the first unmarked one is asked of
    /// `byte`. The last word is loaded overlapping bytes already passed (masked off), so only a
    /// range shorter than a word goes byte by byte.
    @inline(__always)
    static func firstRefused(_ p: UnsafePointer<UInt8>, from start: Int, to end: Int,
                             vouched: (UInt64) -> UInt64, byte: (UInt8) -> Bool) -> Int {
        var i = start
        if end - start < 8 {
            while i < end && byte(p[i]) { i += 1 }
            return i
        }
        // Wrapping arithmetic: indices stay within start...end, shifts below 64.
        while i < end {
            let base = min(i, end &- 8)
            let passed = UInt64(truncatingIfNeeded: (i &- base) &<< 3)  // the bits of the bytes before `i`
            let unsure = ((~vouched(load(p + base)) & highBits) &>> passed) &<< passed
            if unsure == 0 {
                i = base &+ 8
                continue
            }
            i = base &+ (unsure.trailingZeroBitCount &>> 3)
            if !byte(p[i]) { return i }
            i &+= 1
        }
        return end
    }

    /// Case-insensitive equality of a token (tchar bytes only, as the parser vouches) with a
    /// lower-case literal of letters and `-`, a word or two at a time. OR-ing 0x20 into every byte
    /// lower-cases A-Z and keeps a-z and `-`; the only other bytes it turns into a letter or `-`
    /// are controls (0x01...0x1A, 0x0D), which are no tchars. Lengths below 8 compare two
    /// overlapping halves of 4 or 2 bytes.
    static func tokenEquals(_ p: UnsafePointer<UInt8>, _ n: Int, _ literal: StaticString) -> Bool {
        if n != literal.utf8CodeUnitCount { return false }
        let l = literal.utf8Start
        if n >= 8 {
            var i = 0
            while i < n - 8 {
                if load(p + i) | (ones &* 0x20) != load(l + i) { return false }
                i += 8
            }
            return load(p + n - 8) | (ones &* 0x20) == load(l + n - 8)
        }
        if n >= 4 { return foldedEquals(p, l, n, as: UInt32.self) }
        if n >= 2 { return foldedEquals(p, l, n, as: UInt16.self) }
        return n == 0 || p[0] | 0x20 == l[0]
    }

    /// The first and the last `size` bytes of `p`, lower-cased, against `l`'s (size <= n <= 2 size).
    @inline(__always)
    static func foldedEquals<T: FixedWidthInteger & UnsignedInteger>(_ p: UnsafePointer<UInt8>, _ l: UnsafePointer<UInt8>,
                                                                    _ n: Int, as: T.Type) -> Bool {
        let size = MemoryLayout<T>.size
        let fold = T.max / 0xFF &* 0x20
        let (a, b) = (UnsafeRawPointer(p), UnsafeRawPointer(l))
        return a.loadUnaligned(as: T.self) | fold == b.loadUnaligned(as: T.self)
            && a.loadUnaligned(fromByteOffset: n - size, as: T.self) | fold == b.loadUnaligned(fromByteOffset: n - size, as: T.self)
    }
}
