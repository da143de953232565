import GatewayCore

/// Every TLS context a configuration needs: the listeners' (when any listens with `ssl`) and one
/// per upstream block with a TLS server. Building them reads and checks every certificate, key
/// and CA file, so it runs before start and in --check-config, like `ResolvedAddresses.resolve`;
/// a reload builds a new set and gives it to the loops for new connections.
public struct TLSContexts: Sendable {
    let server: TLSServerContext?
    let upstreams: [String: TLSClientContext]

    public static let none = TLSContexts(server: nil, upstreams: [:])

    public static func load(_ config: GatewayConfig) throws(ConfigError) -> TLSContexts {
        // Certificates are checked whenever configured, so a mistake shows before the listener needs them.
        let server = config.tls.certificates.isEmpty ? nil : try TLSServerContext(config.tls, now: Clock.monotonicMillis())
        var upstreams: [String: TLSClientContext] = [:]
        for (name, upstream) in config.upstreams.sorted(by: { $0.key < $1.key }) {
            guard let first = upstream.servers.first(where: \.tls) else { continue }
            upstreams[name] = try TLSClientContext(upstream.tls, upstream: name, at: first.location)
        }
        return TLSContexts(server: server, upstreams: upstreams)
    }
}
