/// Authenticates the API key (`Authorization: Bearer KEY` or `X-API-Key: KEY`) against the
/// configured digests and checks expiry and the route's scopes. Public routes admit every
/// request: a valid key there still gives the request its key's identity and limits, anything
/// else (which may be a credential meant for the upstream) leaves it anonymous. Failed attempts
/// draw from the client's anonymous bucket, so key guessing is throttled: once it is empty the
/// 429 comes before the 401.
public final class AuthStage: ExchangeStage {
    private let policies: ClientPolicies

    public init(policies: ClientPolicies) {
        self.policies = policies
    }

    public func onRequestHead(_ head: RequestHead, bytes: UnsafePointer<UInt8>, context: RequestContext) -> StageVerdict {
        let route = context.route!
        let isPublic = route.config.auth == .public
        guard let (start, length) = Self.presentedKey(head, bytes) else {
            if isPublic { return .proceed }
            return refuse(GatewayError(.missingApiKey, "An API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"),
                          context)
        }
        if isPublic && policies.keys.count == 0 { return .proceed }
        let found = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: KeyHash.digestLength) { digest in
            KeyHash.sha256(start, count: length, into: digest.baseAddress!)
            return policies.keys.lookup(digest.baseAddress!)
        }
        guard let index = found, case let entry = policies.keys.entries[Int(index)], !entry.revoked else {
            return isPublic ? .proceed : refuse(GatewayError(.invalidApiKey, "The API key is not valid"), context)
        }
        if Int64(context.wallMillis) >= entry.expiresAtMs {
            return isPublic ? .proceed : refuse(GatewayError(.expiredApiKey, "The API key has expired"), context)
        }
        let missing = route.config.scopeMask & ~entry.scopes
        if missing != 0 {
            let scope = policies.scopeNames[missing.trailingZeroBitCount]
            return .reject(GatewayError(.insufficientPermissions, "The API key lacks the scope '\(scope)' this route requires",
                                        details: [("scope", .string(scope))]))
        }
        context.apiKeyIdentity = index
        context.apiKeyPolicy = entry.policy
        context.apiKeyOwner = entry.owner
        return .proceed
    }

    private func refuse(_ error: GatewayError, _ context: RequestContext) -> StageVerdict {
        if let rate = policies.anonymousRate {
            let verdict = policies.clientBuckets.take(context.clientAddress, (0, rate), nil, nowMs: context.monotonicMillis)
            if !verdict.admitted {
                context.limitedBy = .clientRate
                return .reject(PolicyErrors.rateLimited(rate, waitMs: verdict.waitMs))
            }
        }
        return .reject(error)
    }

    /// The bearer token, else the X-API-Key value; nil when neither carries a key.
    static func presentedKey(_ head: RequestHead, _ bytes: UnsafePointer<UInt8>) -> (UnsafePointer<UInt8>, Int)? {
        if let field = head.facts.first(.authorization) {
            let value = bytes + Int(field.valueStart), count = Int(field.valueLength)
            if count > 7, Bytes.equalsLowercase(value, 6, "bearer"), value[6] == 0x20 || value[6] == 0x09 {
                var skip = 7
                while skip < count, value[skip] == 0x20 || value[skip] == 0x09 { skip += 1 }
                if skip < count { return (value + skip, count - skip) }
            }
        }
        if let field = head.facts.first(.xApiKey), field.valueLength > 0 {
            return (bytes + Int(field.valueStart), Int(field.valueLength))
        }
        return nil
    }
}
