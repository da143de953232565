import COpenSSL
import GatewayCore

/// What `listen ... ssl` listeners present: one OpenSSL context per certificate (the first is the
/// default), SNI choosing among them by the certificates' own names, ALPN http/1.1, and session
/// tickets under rotating in-memory keys. Built once from a configuration and shared by every
/// loop; a reload builds a new one and hands it to the loops for new connections, while each
/// open connection keeps the one it started with (a session holds its context).
///
/// OpenSSL contexts are safe to share between threads once set up; the only state that changes
/// afterwards is the ticket keys, behind their own lock.
final class TLSServerContext: @unchecked Sendable {
    private let contexts: [OpaquePointer]
    /// The leaf certificate of each context, owned by it: SNI matches against its names.
    private let leaves: [OpaquePointer]
    private let ticketKeys: TicketKeys?
    let handshakeTimeoutMs: UInt64

    /// Loads every certificate and key; a file OpenSSL cannot use is a `ConfigError` at the
    /// directive naming it, with OpenSSL's reason.
    init(_ config: ServerTLSConfig, now: UInt64) throws(ConfigError) {
        if config.sessionTickets {
            guard let keys = TicketKeys(now: now) else {
                throw ConfigError(config.certificates.first?.chain.location ?? .none,
                                  "'ssl_session_tickets': cannot make a ticket key: \(OpenSSLError.drain())")
            }
            ticketKeys = keys
        } else {
            ticketKeys = nil
        }
        var contexts: [OpaquePointer] = []
        var leaves: [OpaquePointer] = []
        do throws(ConfigError) {
            for certificate in config.certificates {
                let context = try Self.makeContext(config, certificate)
                contexts.append(context)
                guard let leaf = SSL_CTX_get0_certificate(context) else {
                    throw ConfigError(certificate.chain.location, "'ssl_certificate': \(certificate.chain.path) holds no certificate")
                }
                leaves.append(leaf)
            }
        } catch {
            contexts.forEach { SSL_CTX_free($0) }
            throw error
        }
        self.contexts = contexts
        self.leaves = leaves
        handshakeTimeoutMs = UInt64(config.handshakeTimeoutMs)
        let this = Unmanaged.passUnretained(self).toOpaque()
        for context in contexts {
            _ = gw_ssl_ctx_set_app_data(context, this)
            gw_ssl_ctx_set_servername_callback(context, serverNameCallback, this)
            if ticketKeys != nil { _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(context, ticketKeyCallback) }
        }
    }

    deinit { contexts.forEach { SSL_CTX_free($0) } }

    /// A server-side session on an accepted socket, starting with the default certificate; nil
    /// when OpenSSL cannot allocate one.
    func session(fd: Int32, scratch: ByteBuffer) -> TLSSession? {
        guard let first = contexts.first else { return nil }
        return TLSSession(context: first, owner: self, fd: fd, server: true, scratch: scratch)
    }

    private static func makeContext(_ config: ServerTLSConfig, _ certificate: ServerTLSConfig.Certificate) throws(ConfigError) -> OpaquePointer {
        OpenSSLError.clear()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw ConfigError(certificate.chain.location, "'ssl_certificate': cannot make a TLS context: \(OpenSSLError.drain())")
        }
        do throws(ConfigError) {
            gw_ssl_ctx_set_gateway_modes(context)
            gw_ssl_ctx_set_server_options(context, config.sessionTickets ? 1 : 0)
            gw_ssl_ctx_set_alpn_http11(context)
            _ = SSL_CTX_set_timeout(context, Int(TicketKeys.sessionLifetimeSeconds))
            guard gw_ssl_ctx_set_proto_range(context, config.minVersion.openSSL, config.maxVersion.openSSL) == 1 else {
                throw ConfigError(certificate.chain.location, "'ssl_protocols': \(OpenSSLError.drain())")
            }
            guard SSL_CTX_set_cipher_list(context, config.ciphers) == 1 else {
                throw ConfigError(config.ciphersLocation, "'ssl_ciphers': OpenSSL refuses \"\(config.ciphers)\": \(OpenSSLError.drain())")
            }
            guard SSL_CTX_set_ciphersuites(context, config.ciphersuites) == 1 else {
                throw ConfigError(config.ciphersuitesLocation,
                                  "'ssl_ciphersuites': OpenSSL refuses \"\(config.ciphersuites)\": \(OpenSSLError.drain())")
            }
            try TLSFiles.useCertificate(context, chain: certificate.chain, key: certificate.key,
                                        chainDirective: "ssl_certificate", keyDirective: "ssl_certificate_key")
            return context
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }

    /// SNI: the first certificate whose own names (subjectAltName, else CN, wildcards included)
    /// cover the name the client asked for; the default one otherwise.
    fileprivate func chooseCertificate(_ ssl: OpaquePointer) {
        guard contexts.count > 1, let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)) else { return }
        for (context, leaf) in zip(contexts, leaves) where X509_check_host(leaf, name, 0, 0, nil) == 1 {
            if context != contexts[0] { _ = SSL_set_SSL_CTX(ssl, context) }
            return
        }
    }

    fileprivate func sealTicket(_ ssl: OpaquePointer, name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>,
                                cipher: OpaquePointer, mac: OpaquePointer, encrypt: Bool) -> Int32 {
        guard let ticketKeys else { return 0 }
        return ticketKeys.seal(name: name, iv: iv, context: cipher, mac: mac, encrypt: encrypt,
                               tls13: SSL_version(ssl) == TLS1_3_VERSION, now: Clock.monotonicMillis())
    }
}

extension TLSVersion {
    var openSSL: Int32 {
        switch self {
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }
}

/// C callbacks cannot capture: the context travels as the callback argument or the SSL_CTX's
/// app data, unretained (every session retains its context, so it outlives its handshakes).
private let serverNameCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = {
    ssl, _, argument in
    if let ssl, let argument {
        Unmanaged<TLSServerContext>.fromOpaque(argument).takeUnretainedValue().chooseCertificate(ssl)
    }
    return SSL_TLSEXT_ERR_OK
}

private let ticketKeyCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?,
                                               OpaquePointer?, OpaquePointer?, Int32) -> Int32 = { ssl, name, iv, cipher, mac, encrypt in
    guard let ssl, let name, let iv, let cipher, let mac, let context = SSL_get_SSL_CTX(ssl),
          let owner = gw_ssl_ctx_get_app_data(context) else { return -1 }
    return Unmanaged<TLSServerContext>.fromOpaque(owner).takeUnretainedValue()
        .sealTicket(ssl, name: name, iv: iv, cipher: cipher, mac: mac, encrypt: encrypt == 1)
}
