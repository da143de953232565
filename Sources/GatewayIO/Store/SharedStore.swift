import GatewayCore

/// What every loop's store client shares, made once at start from `store redis://...`: the
/// resolved address, the TLS context (with `tls`), and the counters the metrics read.
struct SharedStore: Sendable {
    let endpoint: RedisEndpoint
    let address: SocketAddress
    let tls: TLSClientContext?
    let stats: StoreStats

    /// nil with `store local`. The TLS context verifies Redis against the system's CA store
    /// (OpenSSL's defaults, so `SSL_CERT_FILE` names another), by the host as written.
    static func make(_ config: GatewayConfig, _ addresses: ResolvedAddresses, loops: Int) throws(ConfigError) -> SharedStore? {
        guard case .redis(let endpoint) = config.store.backend, let address = addresses.store else { return nil }
        let tls = endpoint.tls ? try TLSClientContext(UpstreamTLSConfig(), upstream: "store", at: endpoint.location) : nil
        return SharedStore(endpoint: endpoint, address: address, tls: tls, stats: StoreStats(loops: loops))
    }
}
