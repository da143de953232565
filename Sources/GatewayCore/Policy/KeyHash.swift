import COpenSSL

/// API keys are only ever kept as SHA-256 digests; this is the one place that hashes them.
public enum KeyHash {
    public static let digestLength = 32

    /// SHA-256 fetched once. `EVP_sha256()` makes every digest call fetch the implementation
    /// again under OpenSSL 3's provider lock: measured at 3.5% of proxy CPU with auth on.
    nonisolated(unsafe) public static let algorithm: OpaquePointer = EVP_MD_fetch(nil, "SHA256", nil)!

    /// SHA-256 of `count` bytes at `bytes` into the 32 bytes at `out`.
    public static func sha256(_ bytes: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 0
        let ok = EVP_Digest(bytes, count, out, &length, algorithm, nil)
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
    }

    public static func sha256(_ key: String) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: digestLength)
        var key = key
        key.withUTF8 { text in out.withUnsafeMutableBufferPointer { sha256(text.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: text.count, into: $0.baseAddress!) } }
        return out
    }

    /// What `gateway hash-key` prints and `key sha256:HEX` expects.
    public static func hex(_ digest: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 64 hex digits (either case) into 32 bytes at `out`; false if `text` is anything else.
    public static func parseHex(_ text: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        guard text.count == digestLength * 2 else { return false }
        for i in 0..<digestLength {
            guard let high = nibble(text[2 * i]), let low = nibble(text[2 * i + 1]) else { return false }
            out[i] = high << 4 | low
        }
        return true
    }

    public static func parseHex(_ text: String) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: digestLength)
        var text = text
        let ok = text.withUTF8 { t in out.withUnsafeMutableBufferPointer { parseHex(t, into: $0.baseAddress!) } }
        return ok ? out : nil
    }

    /// First 8 hex digits of the digest: enough to tell keys apart in logs, useless to an attacker.
    public static func fingerprint(_ digest: some Collection<UInt8>) -> String {
        String(hex(digest).prefix(8))
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
