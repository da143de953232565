/// The TLS directives: `ssl_*` at top level (client side) and `tls*` in upstream blocks. Files are
/// only named here; loading them (and OpenSSL's verdict on them) is the I/O layer's, at start and
/// in --check-config.
extension ConfigBuilder {
    /// A file argument, relative paths anchored at the directory of the file the directive is in.
    func file(_ d: ConfigDirective) -> ConfigFile {
        let path = d.arguments[0].text
        let directory = d.location.file == config.sourceFile ? baseDirectory : ConfigLoader.directory(of: d.location.file)
        let joined = path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path
        return ConfigFile(path: joined, location: d.arguments[0].location)
    }

    mutating func tlsProtocols(_ d: ConfigDirective) throws(ConfigError) {
        var versions: [TLSVersion] = []
        for arg in d.arguments {
            guard let version = TLSVersion(rawValue: arg.text) else { throw Value.error(arg, d, "TLSv1.2 or TLSv1.3") }
            guard !versions.contains(version) else { throw ConfigError(arg.location, "'ssl_protocols': \(arg.text) is listed twice") }
            versions.append(version)
        }
        config.tls.minVersion = versions.min() ?? .tls12
        config.tls.maxVersion = versions.max() ?? .tls13
    }

    /// OpenSSL judges the names; here only the shape: one word of printable ASCII.
    func cipherList(_ d: ConfigDirective) throws(ConfigError) -> (String, SourceLocation) {
        let arg = d.arguments[0]
        guard !arg.text.isEmpty, arg.text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Value.error(arg, d, "an OpenSSL cipher list such as HIGH:!aNULL:!MD5")
        }
        return (arg.text, arg.location)
    }

    /// A DNS name for SNI and verification (SNI carries no IP addresses).
    func serverName(_ d: ConfigDirective) throws(ConfigError) -> String {
        let arg = d.arguments[0]
        let labels = arg.text.split(separator: ".", omittingEmptySubsequences: false)
        let valid = arg.text.utf8.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
                && label.utf8.allSatisfy { ConfigValues.isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
        guard valid else { throw Value.error(arg, d, "a DNS host name such as api.example.com") }
        return arg.text
    }

    /// `ssl_certificate` and `ssl_certificate_key` pair up in the order they are written, as in nginx.
    mutating func pairCertificates() throws(ConfigError) {
        if certificateChains.count > certificateKeys.count {
            let chain = certificateChains[certificateKeys.count]
            throw ConfigError(chain.location, "'ssl_certificate' \(chain.path) has no 'ssl_certificate_key'; expected one key per certificate, in the same order")
        }
        if certificateKeys.count > certificateChains.count {
            let key = certificateKeys[certificateChains.count]
            throw ConfigError(key.location, "'ssl_certificate_key' \(key.path) has no 'ssl_certificate' before it; expected one certificate per key, in the same order")
        }
        config.tls.certificates = zip(certificateChains, certificateKeys).map { ServerTLSConfig.Certificate(chain: $0, key: $1) }
    }

    /// TLS settings that would silently do nothing are errors: a client certificate without its
    /// key, or `tls_*` in a block none of whose servers speaks TLS.
    func checkUpstreamTLS(_ upstream: UpstreamConfig, _ directives: [ConfigDirective]) throws(ConfigError) {
        let tls = upstream.tls
        if let certificate = tls.certificate, tls.certificateKey == nil {
            throw ConfigError(certificate.location, "'tls_certificate' needs 'tls_certificate_key' in 'upstream \(upstream.name)'")
        }
        if let key = tls.certificateKey, tls.certificate == nil {
            throw ConfigError(key.location, "'tls_certificate_key' needs 'tls_certificate' in 'upstream \(upstream.name)'")
        }
        if !upstream.servers.contains(where: \.tls),
           let unused = directives.first(where: { $0.name.hasPrefix("tls_") }) {
            throw ConfigError(unused.location, "'\(unused.name)' has no effect: no server of 'upstream \(upstream.name)' uses TLS; expected 'tls on;' or 'server HOST:PORT tls;'")
        }
    }
}
