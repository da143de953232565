/// Character classes from RFC 9110/9112, as 256-entry tables so every check is one load.
public enum ByteClass {
    /// tchar: the characters of a token (method, header name, transfer-coding).
    public static let token: [Bool] = (0..<256).map { b in
        switch UInt8(b) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(UInt8(b))
        }
    }

    /// Bytes allowed in a request target: visible ASCII only (no space, no controls, no obs-text).
    public static let target: [Bool] = (0..<256).map { b in b > 0x20 && b < 0x7F }

    /// field-vchar / SP / HTAB / obs-text: what a header value may hold.
    public static let fieldValue: [Bool] = (0..<256).map { b in b == 0x09 || (b >= 0x20 && b != 0x7F) }

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
    @inlinable public static func parseDecimal(_ p: UnsafePointer<UInt8>, _ count: Int, limit: Int64 = Int64.max) -> Int64? {
        if count == 0 || count > 19 { return nil }
        var value: Int64 = 0
        for i in 0..<count {
            let d = p[i] &- 48
            if d > 9 { return nil }
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
