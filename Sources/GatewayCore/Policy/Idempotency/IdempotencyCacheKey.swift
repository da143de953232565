/// Who may replay what: (API key identity, route prefix, Idempotency-Key) packed into one byte
/// string, so it is one allocation, compares with one memcmp and goes to the journal as is.
public struct IdempotencyCacheKey: Hashable, Sendable {
    public let bytes: [UInt8]
    /// Computed once: it picks the shard and feeds the shard's dictionary.
    let hash: Int

    /// `identity` nil means an anonymous client; identities of up to 255 bytes.
    public init(identity: UnsafeRawBufferPointer?, routePrefix: String, key: [UInt8]) {
        var bytes: [UInt8] = []
        let prefix = routePrefix.utf8
        bytes.reserveCapacity(4 + (identity?.count ?? 0) + prefix.count + key.count)
        if let identity {
            bytes.append(1)
            bytes.append(UInt8(min(identity.count, 255)))
            bytes.append(contentsOf: identity.prefix(255))
        } else {
            bytes.append(0)
        }
        bytes.append(UInt8(truncatingIfNeeded: prefix.count >> 8))
        bytes.append(UInt8(truncatingIfNeeded: prefix.count))
        bytes.append(contentsOf: prefix)
        bytes.append(contentsOf: key)
        self.init(bytes: bytes)
    }

    public init(identity: UInt32?, routePrefix: String, key: [UInt8]) {
        if var identity {
            identity = identity.littleEndian
            self = withUnsafeBytes(of: &identity) { IdempotencyCacheKey(identity: $0, routePrefix: routePrefix, key: key) }
        } else {
            self.init(identity: nil as UnsafeRawBufferPointer?, routePrefix: routePrefix, key: key)
        }
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
