/// A route prepared for the hot path: method set as a bitmask and the Allow header pre-rendered.
public final class CompiledRoute: Sendable {
    public let config: RouteConfig
    /// Index of the route's upstream in `RequestPipeline.upstreamNames`.
    public let upstreamIndex: Int
    /// Position in `RequestPipeline.routes`; names the route's own token bucket.
    public let index: Int
    private let methodMask: UInt16
    private let allowsOtherMethods: Bool
    private let otherMethods: [[UInt8]]
    public let allowHeader: String

    init(config: RouteConfig, upstreamIndex: Int, index: Int) {
        self.config = config
        self.upstreamIndex = upstreamIndex
        self.index = index
        var mask: UInt16 = 0
        var others: [[UInt8]] = []
        for name in config.methods ?? [] {
            if let known = Self.knownMethods.first(where: { $0.0 == name }) {
                mask |= 1 << known.1.rawValue
            } else {
                others.append(Array(name.utf8))
            }
        }
        methodMask = config.methods == nil ? .max : mask
        allowsOtherMethods = config.methods == nil
        otherMethods = others
        allowHeader = (config.methods ?? []).joined(separator: ", ")
    }

    private static let knownMethods: [(String, HTTPMethod)] = [
        ("GET", .get), ("HEAD", .head), ("POST", .post), ("PUT", .put),
        ("PATCH", .patch), ("DELETE", .delete), ("OPTIONS", .options),
    ]

    public func allows(_ method: HTTPMethod, name: UnsafePointer<UInt8>, length: Int) -> Bool {
        if method != .other { return methodMask & (1 << method.rawValue) != 0 }
        if allowsOtherMethods { return true }
        return otherMethods.contains { $0.count == length && $0.withUnsafeBufferPointer { Bytes.memcmpBytes($0.baseAddress!, name, length) } }
    }
}
