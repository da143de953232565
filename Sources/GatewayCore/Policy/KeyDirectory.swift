import COpenSSL

/// What the gateway knows about one API key, apart from its digest. Equal when the configuration
/// says the same thing about the key, whatever its state owner.
public struct KeyEntry: Sendable, Equatable {
    /// Index into `AccessConfig.policies`.
    public var policy: UInt32
    /// Names the key's limit state (buckets, in-flight count, quota): its index when first
    /// loaded, kept across reloads while the key stays configured (`inheritOwners`), so the
    /// request path keys that state without hashing the digest again. Placed here it costs no
    /// memory (it fills padding) and no extra load.
    public internal(set) var owner: UInt32 = 0
    /// Bit i set: the key has scope `AccessConfig.scopeNames[i]`.
    public var scopes: UInt64
    /// Wall-clock ms since the epoch from which the key is refused; `.max` for never.
    public var expiresAtMs: Int64
    public var revoked: Bool

    public init(policy: UInt32, scopes: UInt64 = 0, expiresAtMs: Int64 = .max, revoked: Bool = false) {
        self.policy = policy
        self.scopes = scopes
        self.expiresAtMs = expiresAtMs
        self.revoked = revoked
    }

    public static func == (a: KeyEntry, b: KeyEntry) -> Bool {
        a.policy == b.policy && a.scopes == b.scopes && a.expiresAtMs == b.expiresAtMs && a.revoked == b.revoked
    }
}

/// Every configured key by SHA-256 digest: flat arrays plus an open-addressing index, so a
/// million keys cost ~60 bytes each and a lookup is one hash probe whatever the count.
/// Digests are compared with CRYPTO_memcmp, so timing never depends on how many bytes match.
public struct KeyDirectory: Sendable {
    /// 32 bytes per key, in key order.
    private var digests: [UInt8] = []
    public private(set) var entries: [KeyEntry] = []
    /// Key index + 1, or 0 for an empty slot; the count is a power of two kept at least twice the keys.
    private var slots: [UInt32] = []

    public init() {}

    public var count: Int { entries.count }

    /// Adds a key (its state owner is its index); false (and nothing added) when its digest is already present.
    public mutating func insert(digest: UnsafePointer<UInt8>, _ entry: KeyEntry) -> Bool {
        if (entries.count + 1) * 2 > slots.count { grow() }
        guard lookup(digest) == nil else { return false }
        digests.append(contentsOf: UnsafeBufferPointer(start: digest, count: KeyHash.digestLength))
        var entry = entry
        entry.owner = UInt32(entries.count)
        entries.append(entry)
        place(UInt32(entries.count))
        return true
    }

    public mutating func insert(digest: [UInt8], _ entry: KeyEntry) -> Bool {
        digest.withUnsafeBufferPointer { insert(digest: $0.baseAddress!, entry) }
    }

    /// The index of the key with this digest.
    public func lookup(_ digest: UnsafePointer<UInt8>) -> UInt32? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var slot = Self.home(digest) & mask
        return digests.withUnsafeBufferPointer { stored in
            slots.withUnsafeBufferPointer { slots in
                while slots[slot] != 0 {
                    let index = Int(slots[slot] - 1)
                    if CRYPTO_memcmp(stored.baseAddress! + index * KeyHash.digestLength, digest, KeyHash.digestLength) == 0 {
                        return UInt32(index)
                    }
                    slot = (slot + 1) & mask
                }
                return nil
            }
        }
    }

    /// The SHA-256 digest of the key at `index`, lent without copying: a key's stable identity
    /// (its index changes whenever the key list does).
    public func withDigest<R>(of index: UInt32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        digests.withUnsafeBytes { all in
            body(UnsafeRawBufferPointer(rebasing: all[Int(index) * KeyHash.digestLength..<(Int(index) + 1) * KeyHash.digestLength]))
        }
    }

    /// Carries state owners over from the directory this one replaces at a reload: a key still
    /// there keeps its owner, a new key takes `nextOwner` (counted up, never handed out twice, so
    /// a removed key's late releases never reach another key's state). Returns the owners of the
    /// keys that are gone. One lookup per key: a million keys take well under a second, on the
    /// reload thread.
    public mutating func inheritOwners(from previous: KeyDirectory, nextOwner: inout UInt32) -> Set<UInt32> {
        var kept = [Bool](repeating: false, count: previous.count)
        for index in entries.indices {
            let old = withDigest(of: UInt32(index)) { previous.lookup($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
            if let old {
                entries[index].owner = previous.entries[Int(old)].owner
                kept[Int(old)] = true
            } else {
                entries[index].owner = nextOwner
                // 2^32 keys added over one process's life would wrap: far beyond any deployment.
                nextOwner &+= 1
            }
        }
        return Set(kept.indices.lazy.filter { !kept[$0] }.map { previous.entries[$0].owner })
    }

    /// The first four bytes of the key's digest, big-endian: `KeyHash.fingerprint` as a number,
    /// which the access log writes as 8 hex digits without building a String.
    public func fingerprint(of index: UInt32) -> UInt32 {
        withDigest(of: index) { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    /// Digests are uniformly distributed, so their first bytes are a good hash already.
    private static func home(_ digest: UnsafePointer<UInt8>) -> Int {
        Int(truncatingIfNeeded: UnsafeRawPointer(digest).loadUnaligned(as: UInt64.self))
    }

    private mutating func place(_ value: UInt32) {
        let mask = slots.count - 1
        let start = Int(value - 1) * KeyHash.digestLength
        var slot = digests.withUnsafeBufferPointer { Self.home($0.baseAddress! + start) } & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = value
    }

    private mutating func grow() {
        slots = [UInt32](repeating: 0, count: max(16, slots.count * 2))
        for value in 0..<UInt32(entries.count) { place(value + 1) }
    }
}
