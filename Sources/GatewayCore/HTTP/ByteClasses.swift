/// A set of bytes as a 256-bit mask: membership is two shifts, with no lazy global to check.
public struct ByteSet: Sendable {
    @usableFromInline let words: (UInt64, UInt64, UInt64, UInt64)

    @inlinable init(_ w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) { words = (w0, w1, w2, w3) }

    @inlinable public subscript(_ byte: Int) -> Bool {
        let word: UInt64
        switch byte >> 6 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return (word >> UInt64(byte & 63)) & 1 != 0
    }
}

/// Character classes from RFC 9110/9112. Computed properties over literal masks, so the
/// optimiser folds them into the parsing loops.
public enum ByteClass {
    /// tchar: the characters of a token (method, header name, transfer-coding).
    @inlinable public static var token: ByteSet { ByteSet(0x03FF_6CFA_0000_0000, 0x57FF_FFFF_C7FF_FFFE, 0, 0) }

    /// Bytes allowed in a request target: visible ASCII except `#` (no space, no controls, no
    /// obs-text). A fragment is never part of a request target (RFC 9112 §3.2), and an upstream that
    /// cuts the path at `#` would serve another resource than the one routed (HAProxy refuses it too).
    @inlinable public static var target: ByteSet { ByteSet(0xFFFF_FFF6_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0, 0) }

    /// field-vchar / SP / HTAB / obs-text: what a header value may hold.
    @inlinable public static var fieldValue: ByteSet {
        ByteSet(0xFFFF_FFFF_0000_0200, 0x7FFF_FFFF_FFFF_FFFF, .max, .max)
    }

    @inlinable public static func lower(_ b: UInt8) -> UInt8 {
        (b >= 65 && b <= 90) ? b | 0x20 : b
    }
}

/// Byte-level helpers over raw memory; plain loops so they specialise and never allocate.
public enum Bytes {
    /// ASCII case-insensitive comparison with a lower-case literal.
    @inlinable public static func equalsLowercase(_ p: UnsafePointer<UInt8>, _ count: Int, _ lower: StaticString) -> Bool {
        if count != lower.utf8CodeUnitCount { return false }
        let l = lower.utf8Start
        for i in 0..<count where ByteClass.lower(p[i]) != l[i] { return false }
        return true
    }

    @inlinable public static func equals(_ p: UnsafePointer<UInt8>, _ count: Int, _ literal: StaticString) -> Bool {
        if count != literal.utf8CodeUnitCount { return false }
        return memcmpBytes(p, literal.utf8Start, count)
    }

    @inlinable public static func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        for i in 0..<count where a[i] != b[i] { return false }
        return true
    }

    /// Parses an unsigned decimal; nil on empty input, a non-digit, or overflow past `limit`.
    /// Leading zeros are accepted (RFC 9110 §8.6's `1*DIGIT`, as nginx and HAProxy do) and do not
    /// count toward the 19 significant digits an Int64 can hold.
    @inlinable public static func parseDecimal(_ p: UnsafePointer<UInt8>, _ count: Int, limit: Int64 = Int64.max) -> Int64? {
        if count == 0 { return nil }
        var first = 0
        while first < count - 1 && p[first] == UInt8(ascii: "0") { first += 1 }
        if count - first > 19 { return nil }
        var value: Int64 = 0
        for i in first..<count {
            let d = p[i] &- 48
            if d > 9 { return nil }
            if i - first < 18 {
                value = value &* 10 &+ Int64(d)  // 18 digits stay below Int64.max
                continue
            }
            // 19 digits can exceed Int64.max ("9999999999999999999"): refuse instead of trapping.
            let (scaled, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = scaled.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            value = sum
        }
        return value <= limit ? value : nil
    }

    /// Calls `body` for each comma-separated element with surrounding whitespace trimmed.
    @inlinable public static func forEachListElement(_ p: UnsafePointer<UInt8>, _ count: Int,
                                                     _ body: (UnsafePointer<UInt8>, Int) -> Void) {
        var start = 0
        var i = 0
        while i <= count {
            if i == count || p[i] == UInt8(ascii: ",") {
                var s = start, e = i
                while s < e && (p[s] == 0x20 || p[s] == 0x09) { s += 1 }
                while e > s && (p[e - 1] == 0x20 || p[e - 1] == 0x09) { e -= 1 }
                if e > s { body(p + s, e - s) }
                start = i + 1
            }
            i += 1
        }
    }
}
