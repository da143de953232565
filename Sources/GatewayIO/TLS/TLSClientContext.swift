import COpenSSL
import GatewayCore
import Glibc

/// How the gateway speaks TLS to the servers of one `upstream` block: peers verified against the
/// block's CA file or the system store, TLS 1.2 or newer, ALPN http/1.1, and a client
/// certificate when mTLS is configured. Shared by every loop, like `TLSServerContext`.
final class TLSClientContext: @unchecked Sendable {
    private let context: OpaquePointer
    /// `tls_server_name`, which overrides each server's own host for SNI and verification.
    let serverName: String?

    init(_ config: UpstreamTLSConfig, upstream: String, at location: SourceLocation) throws(ConfigError) {
        OpenSSLError.clear()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw ConfigError(location, "'upstream \(upstream)': cannot make a TLS context: \(OpenSSLError.drain())")
        }
        do throws(ConfigError) {
            gw_ssl_ctx_set_gateway_modes(context)
            gw_ssl_ctx_set_client_options(context)
            _ = gw_ssl_ctx_set_proto_range(context, TLS1_2_VERSION, TLS1_3_VERSION)
            _ = gw_ssl_ctx_offer_http11(context)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            try TLSFiles.trust(context, config.trustedCertificate)
            if let chain = config.certificate, let key = config.certificateKey {
                try TLSFiles.useCertificate(context, chain: chain, key: key, chainDirective: "tls_certificate", keyDirective: "tls_certificate_key")
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        serverName = config.serverName
    }

    deinit { SSL_CTX_free(context) }

    /// A client session on a connected socket to `host` (the server's host as configured): SNI
    /// and the verified name are `tls_server_name` or that host; an IP address is verified
    /// against the certificate's IP entries and sends no SNI (RFC 6066 allows names only).
    func session(fd: Int32, host: String, scratch: ByteBuffer) -> TLSSession? {
        guard let session = TLSSession(context: context, owner: self, fd: fd, server: false, scratch: scratch) else { return nil }
        let name = serverName ?? host
        let configured = serverName == nil && Self.isIPAddress(host)
            ? session.expectPeer(ipAddress: host)
            : session.expectPeer(hostName: name)
        return configured ? session : nil
    }

    static func isIPAddress(_ host: String) -> Bool {
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }
}
