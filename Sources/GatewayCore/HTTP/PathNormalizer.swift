/// Puts a request path into the one form that routing, policies and the upstream all see, so
/// what was authorised is what is requested (RFC 3986 §6.2.2, like Envoy's `normalize_path` +
/// `merge_slashes`):
/// - `%XX` of an unreserved character (ALPHA DIGIT - . _ ~, §2.3) is decoded; any other escape
///   stays encoded with upper-case hex;
/// - `.` and `..` segments are resolved (§5.2.4), encoded ones (`%2e`, `.%2E`) included;
/// - repeated slashes are merged.
/// Refused (400), because no form of them is safe to route: `..` above the root, an encoded `/`
/// or `\` (`%2F`, `%5C`), `%00`, a malformed escape, a literal `\`, and a dot-segment carrying a
/// `;` parameter (`..;`, which Tomcat-style servers resolve as `..`).
///
/// The result is never longer than the input, so it is written in place. The query is not part
/// of the path and is never touched.
public enum PathNormalizer {
    public enum Outcome: Sendable, Equatable {
        /// The normalised path is `p[0..<length]`; nothing was written when `length` is the input's
        /// and the path needed no work.
        case normalized(length: Int)
        case refused(StaticStringBox)
    }

    /// Normalises `p[0..<count]`, which starts with `/`, in place.
    public static func normalize(_ p: UnsafeMutablePointer<UInt8>, count: Int) -> Outcome {
        if !needsWork(p, count) { return .normalized(length: count) }
        // `w` (write) never passes `r` (read): every step writes at most what it reads.
        var r = 1, w = 1
        while r < count {
            if p[r] == UInt8(ascii: "/") {
                r += 1
                continue
            }
            let segment = w
            while r < count && p[r] != UInt8(ascii: "/") {
                let b = p[r]
                if b == UInt8(ascii: "%") {
                    guard r + 2 < count, let hi = hexValue(p[r + 1]), let lo = hexValue(p[r + 2]) else {
                        return .refused("malformed percent-encoding in path")
                    }
                    let decoded = hi << 4 | lo
                    if decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") {
                        return .refused("encoded slash or backslash in path")
                    }
                    if decoded == 0 { return .refused("encoded NUL in path") }
                    if unreserved[Int(decoded)] {
                        p[w] = decoded
                        w += 1
                    } else {
                        p[w] = UInt8(ascii: "%")
                        p[w + 1] = upperHex(hi)
                        p[w + 2] = upperHex(lo)
                        w += 3
                    }
                    r += 3
                } else if b == UInt8(ascii: "\\") {
                    return .refused("backslash in path")
                } else {
                    p[w] = b
                    w += 1
                    r += 1
                }
            }
            let length = w - segment
            let dots = dotSegment(p + segment, length)
            if dots < 0 { return .refused("dot-segment with parameters in path") }
            if dots == 1 {
                w = segment
            } else if dots == 2 {
                if segment == 1 { return .refused("path goes above the root") }
                var k = segment - 2
                while p[k] != UInt8(ascii: "/") { k -= 1 }
                w = k + 1
            } else if r < count {
                p[w] = UInt8(ascii: "/")
                w += 1
            }
            r += 1
        }
        return .normalized(length: w)
    }

    /// One scan: only `%`, `\`, `//` and `/.` can make a path change (or be refused). Eight
    /// bytes at a time, each word's bytes paired with the word one byte further on for the pairs
    /// (SWAR), then the last few bytes one by one.
    static func needsWork(_ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        var i = 0
        while i + 9 <= count {
            let w = SWAR.load(p + i), next = SWAR.load(p + i + 1)
            let pair = SWAR.equal(w, UInt8(ascii: "/")) & (SWAR.equal(next, UInt8(ascii: "/")) | SWAR.equal(next, UInt8(ascii: ".")))
            if pair | SWAR.equal(w, UInt8(ascii: "%")) | SWAR.equal(w, UInt8(ascii: "\\")) != 0 { return true }
            i += 8
        }
        while i < count {
            let b = p[i]
            if b == UInt8(ascii: "%") || b == UInt8(ascii: "\\") { return true }
            if b == UInt8(ascii: "/") && i + 1 < count && (p[i + 1] == UInt8(ascii: "/") || p[i + 1] == UInt8(ascii: ".")) {
                return true
            }
            i += 1
        }
        return false
    }

    /// 1 for `.`, 2 for `..`, -1 for `.;...` or `..;...`, 0 for anything else.
    @inlinable static func dotSegment(_ p: UnsafePointer<UInt8>, _ length: Int) -> Int {
        if length == 0 || p[0] != UInt8(ascii: ".") { return 0 }
        if length == 1 { return 1 }
        if p[1] == UInt8(ascii: ";") { return -1 }
        if p[1] != UInt8(ascii: ".") { return 0 }
        if length == 2 { return 2 }
        return p[2] == UInt8(ascii: ";") ? -1 : 0
    }

    /// ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
    @inlinable static var unreserved: ByteSet { ByteSet(0x03FF_6000_0000_0000, 0x47FF_FFFE_87FF_FFFE, 0, 0) }

    @inlinable static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - 55
        default: return nil
        }
    }

    @inlinable static func upperHex(_ v: UInt8) -> UInt8 { v < 10 ? 48 + v : 55 + v }
}
