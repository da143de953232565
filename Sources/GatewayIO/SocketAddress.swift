import CSystem
import Glibc

/// An IPv4 or IPv6 socket address, as the resolver or `accept` gives it.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    var family: Int32 { Int32(storage.ss_family) }

    /// Host byte order; sin_port and sin6_port sit at the same offset.
    var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)) }
    }

    /// The numeric host, as it goes into X-Forwarded-For.
    public var hostText: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        withUnsafeBytes(of: storage) { raw in
            let offset = family == AF_INET
                ? MemoryLayout<sockaddr_in>.offset(of: \.sin_addr) : MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)
            guard let base = raw.baseAddress, let offset else { return }
            _ = inet_ntop(family, base + offset, &text, socklen_t(text.count))
        }
        let bytes = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `127.0.0.1:8080` or `[::1]:8080`.
    public var description: String {
        family == AF_INET6 ? "[\(hostText)]:\(port)" : "\(hostText):\(port)"
    }

    /// 0.0.0.0 or ::, which overlaps every address of its family on the same port.
    var isWildcard: Bool { hostText == "0.0.0.0" || hostText == "::" }

    /// Same family, address and port (and IPv6 scope); padding bytes are ignored.
    public static func == (a: SocketAddress, b: SocketAddress) -> Bool {
        a.family == b.family && a.port == b.port && a.hostText == b.hostText && a.scopeID == b.scopeID
    }

    private var scopeID: UInt32 {
        guard family == AF_INET6 else { return 0 }
        return withUnsafeBytes(of: storage) { raw in
            raw.load(fromByteOffset: MemoryLayout<sockaddr_in6>.offset(of: \.sin6_scope_id) ?? 0, as: UInt32.self)
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
