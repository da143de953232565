import CSystem
import Glibc

/// An IPv4 or IPv6 socket address, resolved once at start-up from a numeric host.
public struct SocketAddress: Sendable {
    var storage: sockaddr_storage
    var length: socklen_t

    public init?(host: String, port: UInt16) {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let numeric = bare == "localhost" ? "127.0.0.1" : bare
        var storage = sockaddr_storage()
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, numeric, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeBytes(of: v4) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        } else if inet_pton(AF_INET6, numeric, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeBytes(of: v6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        } else {
            return nil
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    var family: Int32 { Int32(storage.ss_family) }

    /// The numeric host, as it goes into X-Forwarded-For.
    public var hostText: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var copy = storage
        withUnsafeMutableBytes(of: &copy) { raw in
            if family == AF_INET {
                let offset = MemoryLayout<sockaddr_in>.offset(of: \.sin_addr)!
                _ = inet_ntop(AF_INET, raw.baseAddress! + offset, &text, socklen_t(text.count))
            } else {
                let offset = MemoryLayout<sockaddr_in6>.offset(of: \.sin6_addr)!
                _ = inet_ntop(AF_INET6, raw.baseAddress! + offset, &text, socklen_t(text.count))
            }
        }
        let bytes = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
