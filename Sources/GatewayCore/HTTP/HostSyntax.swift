/// `host [":" port]` (RFC 3986 §3.2.2, §3.2.3), the syntax of a Host field value (RFC 9112 §3.2)
/// and of an absolute-form target's authority. A Host the upstream may read differently from us
/// (a list, a path, userinfo, whitespace) is refused rather than forwarded.
public enum HostSyntax {
    /// Whether `p[0..<n]` is a non-empty host with an optional port.
    /// - host: `[IPv6]`, `[vX.future]`, or a reg-name (IPv4 is a reg-name syntactically). The comma
    ///   that RFC 3986's sub-delims allow is refused: in a header it is a list separator, and
    ///   `Host: a, b` is what merging two Host lines produces.
    /// - port: up to 5 digits, possibly none (`host:` is valid RFC 3986 and accepted, like nginx).
    public static func isValid(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n == 0 { return false }
        var i = 0
        if p[0] == UInt8(ascii: "[") {
            var close = 1
            while close < n && p[close] != UInt8(ascii: "]") { close += 1 }
            if close == n || !isIPLiteral(p + 1, close - 1) { return false }
            i = close + 1
        } else {
            // Letters, digits, `-` and `.` (most of any name) are skipped a word at a time.
            i = SWAR.firstRefused(p, from: 0, to: n, vouched: SWAR.hostname) { _ in false }
            while i < n && p[i] != UInt8(ascii: ":") {
                if p[i] == UInt8(ascii: "%") {
                    if i + 2 >= n || !isHex(p[i + 1]) || !isHex(p[i + 2]) { return false }
                    i += 3
                    continue
                }
                if !regName[Int(p[i])] { return false }
                i += 1
            }
            if i == 0 { return false }
        }
        if i == n { return true }
        if p[i] != UInt8(ascii: ":") || n - i - 1 > 5 { return false }
        for j in (i + 1)..<n where !isDigit(p[j]) { return false }
        return true
    }

    /// unreserved / sub-delims without "," (percent escapes are handled by the caller).
    @inlinable static var regName: ByteSet { ByteSet(0x2BFF_6FD2_0000_0000, 0x47FF_FFFE_87FF_FFFE, 0, 0) }

    /// IPv6address / IPvFuture, the inside of `[...]`. Zone identifiers are not part of HTTP URIs.
    static func isIPLiteral(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n > 0 && (p[0] == UInt8(ascii: "v") || p[0] == UInt8(ascii: "V")) { return isIPvFuture(p, n) }
        return isIPv6(p, n)
    }

    /// `"v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`, the comma again excepted.
    static func isIPvFuture(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 1
        while i < n && isHex(p[i]) { i += 1 }
        if i == 1 || i == n || p[i] != UInt8(ascii: ".") || i + 1 == n { return false }
        for j in (i + 1)..<n where !(p[j] == UInt8(ascii: ":") || regName[Int(p[j])]) {
            return false
        }
        return true
    }

    /// RFC 3986's IPv6address: eight 16-bit groups, or fewer around one `::`, the last two
    /// possibly written as a dotted IPv4 address.
    static func isIPv6(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var groups = 0
        var elided = false
        var i = 0
        if n >= 2 && p[0] == UInt8(ascii: ":") && p[1] == UInt8(ascii: ":") {
            elided = true
            i = 2
        }
        while i < n {
            var j = i
            while j < n && j - i < 5 && isHex(p[j]) { j += 1 }
            if j < n && p[j] == UInt8(ascii: ".") {
                if !isIPv4(p + i, n - i) { return false }
                groups += 2
                break
            }
            if j == i || j - i > 4 { return false }
            groups += 1
            i = j
            if i == n { break }
            if p[i] != UInt8(ascii: ":") || i + 1 == n { return false }
            i += 1
            if p[i] == UInt8(ascii: ":") {
                if elided { return false }
                elided = true
                i += 1
            }
        }
        return elided ? groups <= 7 : groups == 8
    }

    /// Four dec-octets 0...255 without leading zeros.
    static func isIPv4(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var octets = 0
        var i = 0
        while true {
            var value = 0
            let start = i
            while i < n && i - start < 3 && isDigit(p[i]) {
                value = value * 10 + Int(p[i] - 48)
                i += 1
            }
            let digits = i - start
            if digits == 0 || value > 255 || (digits > 1 && p[start] == UInt8(ascii: "0")) { return false }
            octets += 1
            if octets == 4 { return i == n }
            if i == n || p[i] != UInt8(ascii: ".") { return false }
            i += 1
        }
    }

    @inlinable static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    @inlinable static func isHex(_ b: UInt8) -> Bool {
        isDigit(b) || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "f"))
    }
}
