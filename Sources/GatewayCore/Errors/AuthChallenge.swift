/// The `WWW-Authenticate` challenge every 401 the gateway sends must carry (RFC 9110 §15.5.2):
/// `Bearer realm="..."`, plus `error="invalid_token"` when a key was presented and refused
/// (RFC 6750 §3.1; a request without credentials gets no error code).
public struct AuthChallenge: Sendable {
    /// For a request that carried no key, and for an upstream 401 that sent no challenge of its own.
    public let realmOnly: String
    public let invalidToken: String

    /// `realm` holds no `"` or `\` (checked by the config), so it needs no escaping.
    public init(realm: String) {
        realmOnly = "Bearer realm=\"\(realm)\""
        invalidToken = realmOnly + ", error=\"invalid_token\""
    }

    /// The challenge for one of the gateway's own 401s.
    public func header(for kind: GatewayErrorKind) -> String {
        switch kind {
        case .invalidApiKey, .expiredApiKey: invalidToken
        default: realmOnly
        }
    }
}
