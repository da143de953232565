/// Who is asking, for the idempotency namespace. Both lend bytes only for the call.
public enum IdempotencyCaller {
    /// An authenticated API key, by its SHA-256 digest (only the first 16 bytes are used): stable
    /// across restarts and key-list edits, unlike the key's position in the list.
    case apiKey(digest: UnsafeRawBufferPointer)
    /// A request without a valid key on a public route, by the client's IP address as text.
    case clientAddress(UnsafeRawBufferPointer)
}

/// Who may replay what: (caller, route prefix, Idempotency-Key) packed into one byte string, so
/// it is one allocation, compares with one memcmp and goes to the journal as is.
public struct IdempotencyCacheKey: Hashable, Sendable {
    public let bytes: [UInt8]
    /// Computed once: it picks the shard and feeds the shard's dictionary.
    let hash: Int

    /// Bytes of an API key digest kept: 128 bits tell a million keys apart with room to spare.
    static let digestPrefix = 16

    /// Layout: caller kind u8 (1 API key, 2 client address), identity length u8, identity,
    /// route prefix length u16 big-endian, route prefix, key.
    public init(caller: IdempotencyCaller, routePrefix: String, key: [UInt8]) {
        let kind: UInt8, identity: UnsafeRawBufferPointer
        switch caller {
        case .apiKey(let digest): (kind, identity) = (1, UnsafeRawBufferPointer(rebasing: digest.prefix(Self.digestPrefix)))
        case .clientAddress(let address): (kind, identity) = (2, UnsafeRawBufferPointer(rebasing: address.prefix(255)))
        }
        var bytes: [UInt8] = []
        let prefix = routePrefix.utf8
        bytes.reserveCapacity(4 + identity.count + prefix.count + key.count)
        bytes.append(kind)
        bytes.append(UInt8(identity.count))
        bytes.append(contentsOf: identity)
        bytes.append(UInt8(truncatingIfNeeded: prefix.count >> 8))
        bytes.append(UInt8(truncatingIfNeeded: prefix.count))
        bytes.append(contentsOf: prefix)
        bytes.append(contentsOf: key)
        self.init(bytes: bytes)
    }

    /// From the packed form, as read back from the journal.
    init(bytes: [UInt8]) {
        self.bytes = bytes
        var hasher = Hasher()
        hasher.combine(bytes)
        hash = hasher.finalize()
    }

    public static func == (a: Self, b: Self) -> Bool { a.hash == b.hash && a.bytes == b.bytes }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }
}
