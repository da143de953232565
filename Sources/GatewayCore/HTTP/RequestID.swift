/// Request ids: 26 Crockford base32 characters, ULID layout (48-bit millisecond time, 80 bits
/// that are a per-generator random prefix plus a counter). Sortable by time, unique without
/// coordination between event loops, and generated with no allocation.
public struct RequestIDGenerator: Sendable {
    public static let length = 26
    private static let alphabet: StaticString = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    private let prefix: UInt16
    private var counter: UInt64

    /// `seed` should come from a real random source; two generators with the same seed collide.
    public init(seed: UInt64) {
        prefix = UInt16(truncatingIfNeeded: seed >> 48)
        counter = seed & 0x0000_FFFF_FFFF_FFFF
    }

    /// Writes the next id into `out` (at least 26 bytes).
    public mutating func next(nowMillis: UInt64, into out: UnsafeMutablePointer<UInt8>) {
        counter &+= 1
        let high = (nowMillis & 0xFFFF_FFFF_FFFF) << 16 | UInt64(prefix)  // 64 bits: time, prefix
        let low = counter                                                     // 64 bits
        // 130 bits of output, 5 per character: two zero pad bits and `high` fill characters 0...12
        // (high's top 3 bits, then 5 at a time), character 13 takes high's last bit and low's top
        // 4, characters 14...25 the rest of `low`.
        let digits = Self.alphabet.utf8Start
        for i in 0..<13 { out[i] = digits[Int(truncatingIfNeeded: high &>> UInt64(61 - 5 * i) & 0x1F)] }
        out[13] = digits[Int(truncatingIfNeeded: (high & 1) << 4 | low >> 60)]
        for i in 0..<12 { out[14 + i] = digits[Int(truncatingIfNeeded: low &>> UInt64(55 - 5 * i) & 0x1F)] }
    }

    /// A client-supplied id is kept when it is short and made of safe characters only, so it can
    /// never inject into a header or a log line.
    public static func isAcceptable(_ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        if count == 0 || count > 128 { return false }
        for i in 0..<count {
            let b = p[i]
            let ok = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
            if !ok { return false }
        }
        return true
    }
}
