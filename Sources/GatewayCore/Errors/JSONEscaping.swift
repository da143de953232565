/// Appends JSON text to a byte buffer without going through String interpolation.
/// Error bodies echo client-controlled text (paths, header values), so every string goes through here.
public enum JSONEscaping {
    /// Appends `"..."` with quotes, backslashes and control characters escaped.
    public static func appendQuoted(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { appendQuoted(utf8: $0, to: &out) }
    }

    /// Appends `"..."` for arbitrary bytes: well-formed UTF-8 is kept as-is, each ill-formed
    /// sequence becomes U+FFFD so the output is always valid JSON.
    public static func appendQuoted(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                appendASCII(b, to: &out)
                i += 1
                continue
            }
            let length = validSequenceLength(bytes, at: i)
            if length > 0 {
                for k in i..<(i + length) { out.append(bytes[k]) }
                i += length
            } else {
                out.append(contentsOf: replacementCharacter)
                i += max(1, -length)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `value`.
    public static func appendInt(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
            divisor /= 10
        }
    }

    static let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendASCII(_ b: UInt8, to out: inout [UInt8]) {
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            out.append(UInt8(ascii: "\\"))
            out.append(b)
        case 0..<0x20:
            out.append(UInt8(ascii: "\\"))
            out.append(UInt8(ascii: "u"))
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "0"))
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xF)])
        default:
            out.append(b)
        }
    }

    /// Length of the well-formed multi-byte UTF-8 sequence starting at `i` (Unicode table 3-7), or, when
    /// ill-formed, minus the length of its maximal subpart so one U+FFFD replaces it (Unicode's recommended practice).
    static func validSequenceLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let lead = bytes[i]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return -1
        }
        for k in 1..<length {
            guard i + k < bytes.count else { return -k }
            let b = bytes[i + k]
            let (lo, hi) = k == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard b >= lo && b <= hi else { return -k }
        }
        return length
    }
}
