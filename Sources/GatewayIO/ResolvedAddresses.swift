import GatewayCore

/// The socket addresses behind the configuration's names: what the listeners bind and which
/// servers each upstream group balances over. Built before start and by --check-config; a reload
/// calls `resolve` again on its configuration, which also picks up changed DNS answers.
public struct ResolvedAddresses: Sendable {
    public struct Listen: Sendable {
        public let address: SocketAddress
        /// `listen ... ssl`.
        public let ssl: Bool
        let location: SourceLocation
    }

    /// One address of a `server` line; a name with several addresses gives several, with the same knobs.
    struct Server: Sendable {
        let config: UpstreamServer
        let address: SocketAddress
    }

    public let listen: [Listen]
    let servers: [String: [Server]]
    /// `admin_listen`'s address (its first, for a name with several).
    let admin: SocketAddress?
    /// The Redis of `store redis://...` (its first address); the other nodes of a cluster are
    /// learnt from it.
    let store: SocketAddress?

    /// Every listen address and upstream server resolved; a name that does not resolve, or two listen
    /// lines that come to the same address, is a `ConfigError` at the line that names it.
    public static func resolve(_ config: GatewayConfig) throws(ConfigError) -> ResolvedAddresses {
        var listen: [Listen] = []
        for entry in config.listen {
            for address in try addresses(entry.host, entry.port, "listen", at: entry.location) {
                try checkOverlap(address, text: text(entry.host, entry.port), at: entry.location, with: listen)
                listen.append(Listen(address: address, ssl: entry.ssl, location: entry.location))
            }
        }
        var servers: [String: [Server]] = [:]
        for (name, upstream) in config.upstreams {
            var list: [Server] = []
            for server in upstream.servers {
                for address in try addresses(server.host, server.port, "server", at: server.location) {
                    list.append(Server(config: server, address: address))
                }
            }
            servers[name] = list
        }
        var admin: SocketAddress?
        if let entry = config.adminListen {
            let address = try addresses(entry.host, entry.port, "admin_listen", at: entry.location)[0]
            // The config check compares what is written; this catches names that come to a listen address.
            if let other = listen.first(where: { $0.address.family == address.family && $0.address.port == address.port
                                                 && ($0.address == address || $0.address.isWildcard || address.isWildcard) }) {
                throw ConfigError(entry.location, "'admin_listen': \(address) is also served by 'listen' at \(other.location); "
                                  + "the admin endpoints must not be on a public listener, expected another port")
            }
            admin = address
        }
        var store: SocketAddress?
        if case .redis(let endpoint) = config.store.backend {
            store = try addresses(endpoint.host, endpoint.port, "store", at: endpoint.location)[0]
        }
        return ResolvedAddresses(listen: listen, servers: servers, admin: admin, store: store)
    }

    /// The process's shared health objects, one per resolved server, groups in `order` (the
    /// pipeline's group order, by which routes, balancers and pools index them).
    /// At a reload, `previous` is the running table: servers that stay keep their health.
    public func upstreamHealth(_ config: GatewayConfig, order: [String], previous: UpstreamHealthTable? = nil) -> UpstreamHealthTable {
        UpstreamHealthTable(groups: order.map { name in
            UpstreamHealth(config: config.upstreams[name] ?? UpstreamConfig(name: name),
                           members: (servers[name] ?? []).map { ($0.config, $0.address.description) },
                           previous: previous?.groups.first { $0.config.name == name })
        })
    }

    private static func addresses(_ host: String, _ port: UInt16, _ directive: String,
                                  at location: SourceLocation) throws(ConfigError) -> [SocketAddress] {
        switch Resolver.addresses(host: host, port: port) {
        case .success(let addresses): return addresses
        case .failure(let error): throw ConfigError(location, "'\(directive)': cannot resolve '\(host)': \(error)")
        }
    }

    /// Two listeners on one address would both be ours, and a wildcard already takes its family's
    /// every address on that port: binding the second would fail as if another process held it.
    private static func checkOverlap(_ address: SocketAddress, text: String, at location: SourceLocation,
                                     with earlier: [Listen]) throws(ConfigError) {
        for other in earlier {
            if other.address == address {
                let resolved = address.description == text ? "" : " (\(address))"
                throw ConfigError(location, "duplicate 'listen \(text)'\(resolved); \(address) is already listened on at \(other.location)")
            }
            if other.address.family == address.family, other.address.port == address.port,
               other.address.isWildcard || address.isWildcard {
                throw ConfigError(location, "'listen \(text)' overlaps \(other.address), listened on at \(other.location); "
                                  + "expected either the wildcard address or specific ones on port \(address.port)")
            }
        }
    }

    private static func text(_ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
