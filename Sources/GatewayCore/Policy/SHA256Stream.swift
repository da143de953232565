import COpenSSL

/// SHA-256 over bytes that arrive in pieces (a streaming body), through OpenSSL's EVP interface.
public final class SHA256Stream {
    private let context: OpaquePointer

    public init() {
        // Allocation failure of a few hundred bytes means the process is already lost.
        context = EVP_MD_CTX_new()!
        EVP_DigestInit_ex(context, KeyHash.algorithm, nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawPointer?, count: Int) {
        guard let bytes, count > 0 else { return }
        EVP_DigestUpdate(context, bytes, count)
    }

    /// The 32-byte digest; call once, after the last update.
    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: KeyHash.digestLength)
        EVP_DigestFinal_ex(context, &digest, nil)
        return digest
    }
}
