import GatewayCore

extension RequestContext {
    /// The API key identity as bytes for the idempotency cache key; nil for anonymous requests,
    /// so two keys never share an Idempotency-Key namespace.
    func withIdentityBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard var identity = apiKeyIdentity?.littleEndian else { return body(nil) }
        return withUnsafeBytes(of: &identity) { body($0) }
    }
}
