/// Names of the gateway's keys in the shared store. Everything one API key owns starts with
/// `gw:{<tag>}:`, the tag being the first 8 bytes of the key's SHA-256 in hex (never the key), so
/// it all hashes to one Redis Cluster slot and one script can check it atomically. Requests
/// without a key use their client address as the tag (`{ip:ADDRESS}`).
public enum StoreKeys {
    public static let tagDigestBytes = 8

    /// Writes `gw:{<tag>}:` for an API key digest into `out` (emptied first; its capacity reused).
    public static func prefix(apiKeyDigest digest: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: "gw:{".utf8)
        let digits = Array("0123456789abcdef".utf8)
        for byte in digest.prefix(tagDigestBytes) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        out.append(contentsOf: "}:".utf8)
    }

    /// `gw:{ip:ADDRESS}:` for a caller known only by its address.
    public static func prefix(clientAddress address: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: "gw:{ip:".utf8)
        // Braces would end the hash tag early; no address text contains them, but none may.
        out.append(contentsOf: address.lazy.filter { $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}") })
        out.append(contentsOf: "}:".utf8)
    }

    /// Requests in flight over all clients: one key for the whole deployment.
    public static let globalSlots = Array("gw:{global}:slots".utf8)

    /// Suffixes after a caller's prefix.
    public static let keyBucket = Array("rate".utf8)
    public static let routeBucket = Array("rate:".utf8)
    public static let keySlots = Array("slots".utf8)
    public static let quota = Array("quota".utf8)
    public static let idempotency = Array("idem:".utf8)
}
