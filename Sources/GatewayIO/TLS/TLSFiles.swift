import COpenSSL
import GatewayCore

/// Certificate, key and CA files into an OpenSSL context, each failure a `ConfigError` at the
/// directive that names the file, with OpenSSL's reason.
enum TLSFiles {
    static func useCertificate(_ context: OpaquePointer, chain: ConfigFile, key: ConfigFile,
                               chainDirective: String, keyDirective: String) throws(ConfigError) {
        // An encrypted key would make OpenSSL ask for its passphrase on the terminal; refuse it instead.
        SSL_CTX_set_default_passwd_cb(context, noPassphrase)
        OpenSSLError.clear()
        guard SSL_CTX_use_certificate_chain_file(context, chain.path) == 1 else {
            throw ConfigError(chain.location, "'\(chainDirective)': cannot load \(chain.path): \(OpenSSLError.drain())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, key.path, gw_ssl_filetype_pem()) == 1 else {
            throw ConfigError(key.location, "'\(keyDirective)': cannot load \(key.path): \(OpenSSLError.drain())")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw ConfigError(key.location,
                              "'\(keyDirective)': \(key.path) is not the key of the certificate in \(chain.path): \(OpenSSLError.drain())")
        }
    }

    /// The CAs peers are verified against: the file's, or the system store's.
    static func trust(_ context: OpaquePointer, _ file: ConfigFile?) throws(ConfigError) {
        OpenSSLError.clear()
        guard let file else {
            // Without a usable system store every verification fails, with a reason saying so.
            _ = SSL_CTX_set_default_verify_paths(context)
            OpenSSLError.clear()
            return
        }
        guard SSL_CTX_load_verify_locations(context, file.path, nil) == 1 else {
            throw ConfigError(file.location, "'tls_trusted_certificate': cannot load \(file.path): \(OpenSSLError.drain())")
        }
    }
}

private let noPassphrase: @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in 0 }
