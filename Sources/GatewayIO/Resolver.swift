import Glibc

/// Host names to socket addresses through getaddrinfo (files, DNS, whatever nsswitch says).
/// Blocking: it runs before the loops start, never on a loop.
enum Resolver {
    /// Every TCP address of `host` in getaddrinfo's order, without repeats; or why there is none.
    static func addresses(host: String, port: UInt16) -> Result<[SocketAddress], ResolveError> {
        // A literal is taken as written; only names get AI_ADDRCONFIG, which drops the IPv6
        // answers of a host that has no IPv6 address (glibc does not count ::1 as one).
        switch lookup(host, port, flags: AI_NUMERICHOST) {
        case .failure(let error) where error.code == EAI_NONAME: return lookup(host, port, flags: AI_ADDRCONFIG)
        case let result: return result
        }
    }

    /// A numeric address (as Redis Cluster reports its nodes); never a name lookup, so it may run on a loop.
    static func numeric(host: String, port: UInt16) -> SocketAddress? {
        try? lookup(host, port, flags: AI_NUMERICHOST).get().first
    }

    private static func lookup(_ host: String, _ port: UInt16, flags: Int32) -> Result<[SocketAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = flags | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0 else { return .failure(ResolveError(code: code, systemErrno: errno)) }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var next = list
        while let info = next?.pointee {
            next = info.ai_next
            guard let raw = info.ai_addr, info.ai_family == AF_INET || info.ai_family == AF_INET6,
                  Int(info.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: Int(info.ai_addrlen))) }
            let address = SocketAddress(storage: storage, length: info.ai_addrlen)
            if !addresses.contains(address) { addresses.append(address) }
        }
        if addresses.isEmpty { return .failure(ResolveError(code: EAI_NONAME, systemErrno: 0)) }
        return .success(addresses)
    }
}

struct ResolveError: Error, CustomStringConvertible {
    let code: Int32
    let systemErrno: Int32

    var description: String {
        code == EAI_SYSTEM ? String(cString: strerror(systemErrno)) : String(cString: gai_strerror(code))
    }
}
