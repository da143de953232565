/// SHA-256 of a request's method, target and body: what "the same request" means for a key.
public struct RequestFingerprint: Sendable, Hashable {
    /// The digest as four words, so an entry holds it inline without another allocation.
    private let words: (UInt64, UInt64, UInt64, UInt64)

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyBytes(from: bytes) }
        self.words = words
    }

    public var bytes: [UInt8] { withUnsafeBytes(of: words) { Array($0) } }

    public static func == (a: Self, b: Self) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) { withUnsafeBytes(of: words) { hasher.combine(bytes: $0) } }
}

/// Hashes a request while its body streams, so no body is ever buffered to fingerprint it.
/// Method and target are each followed by a NUL, which neither may contain, so no two
/// (method, target, body) triples share an input.
public final class RequestFingerprinter {
    private let digest = SHA256Stream()

    /// `path` is the request target as received (path and query: a different query is a different request).
    public convenience init(method: UnsafeRawBufferPointer, path: UnsafeRawBufferPointer) {
        self.init()
        absorb(method, path)
    }

    public convenience init(method: String, path: String) {
        self.init()
        var method = method, path = path
        method.withUTF8 { m in path.withUTF8 { p in absorb(UnsafeRawBufferPointer(m), UnsafeRawBufferPointer(p)) } }
    }

    private init() {}

    private func absorb(_ method: UnsafeRawBufferPointer, _ path: UnsafeRawBufferPointer) {
        var separator: UInt8 = 0
        update(method.baseAddress, count: method.count)
        update(&separator, count: 1)
        update(path.baseAddress, count: path.count)
        update(&separator, count: 1)
    }

    public func update(_ bytes: UnsafeRawPointer?, count: Int) {
        digest.update(bytes, count: count)
    }

    /// Call once, after the last body byte.
    public func finish() -> RequestFingerprint {
        RequestFingerprint(bytes: digest.finish())!
    }
}
