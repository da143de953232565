/// A file a TLS directive names, with the place it is named: certificate and key files are read
/// by the I/O layer (and by --check-config), whose errors must point at that line.
public struct ConfigFile: Sendable, Equatable {
    /// Absolute, or relative to the directory of the file the directive is in, already joined.
    public var path: String
    public var location: SourceLocation

    public init(path: String, location: SourceLocation = .none) {
        self.path = path
        self.location = location
    }

    public static func == (a: ConfigFile, b: ConfigFile) -> Bool { a.path == b.path }
}

public enum TLSVersion: String, Sendable, Comparable, CaseIterable {
    case tls12 = "TLSv1.2", tls13 = "TLSv1.3"

    public static func < (a: TLSVersion, b: TLSVersion) -> Bool { a == .tls12 && b == .tls13 }
}

/// TLS on the client side: what `listen ... ssl` listeners present and accept (top-level `ssl_*`).
public struct ServerTLSConfig: Sendable {
    /// A certificate chain and its key; clients are matched by SNI against the certificate's own
    /// names, and the first pair is the default for clients without SNI or with an unknown name.
    public struct Certificate: Sendable, Equatable {
        public var chain: ConfigFile
        public var key: ConfigFile

        public init(chain: ConfigFile, key: ConfigFile) {
            self.chain = chain
            self.key = key
        }
    }

    public static let defaultCiphers = "HIGH:!aNULL:!MD5"
    public static let defaultCiphersuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

    public var certificates: [Certificate] = []
    public var minVersion = TLSVersion.tls12
    public var maxVersion = TLSVersion.tls13
    /// TLS 1.2 cipher list and TLS 1.3 suites, passed to OpenSSL as written.
    public var ciphers = ServerTLSConfig.defaultCiphers
    public var ciphersuites = ServerTLSConfig.defaultCiphersuites
    /// Where `ssl_ciphers` / `ssl_ciphersuites` are written, for OpenSSL's refusal of them.
    public var ciphersLocation = SourceLocation.none
    public var ciphersuitesLocation = SourceLocation.none
    public var sessionTickets = true
    public var handshakeTimeoutMs: Int64 = 10_000

    public init() {}
}

/// TLS towards the servers of one `upstream` block: verification, SNI and an optional client
/// certificate. Which servers use it is `UpstreamServer.tls`.
public struct UpstreamTLSConfig: Sendable {
    /// CA certificates (PEM) to verify servers against; nil: the system's CA store.
    public var trustedCertificate: ConfigFile?
    /// SNI and the name verified in the server's certificate; nil: each server's host as written.
    public var serverName: String?
    /// mTLS: the certificate chain and key the gateway presents to the servers.
    public var certificate: ConfigFile?
    public var certificateKey: ConfigFile?

    public init() {}
}
