import GatewayCore

extension RequestContext {
    func withIdentityBytes<R>(_ body: (UnsafeRawBufferPointer?) -> R) -> R { body(nil) }
}
