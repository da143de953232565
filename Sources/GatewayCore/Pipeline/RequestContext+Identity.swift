extension RequestContext {
    /// The idempotency namespace of this request: its API key's digest, or, for a request
    /// without a valid key on a public route, the client's address. Lent for the call, no copy.
    func withIdempotencyCaller<R>(_ keys: KeyDirectory, _ body: (IdempotencyCaller) -> R) -> R {
        if let index = apiKeyIdentity { return keys.withDigest(of: index) { body(.apiKey(digest: $0)) } }
        return clientAddress.withUnsafeBytes { body(.clientAddress($0)) }
    }

    /// The caller's key prefix in the shared store (API key digest, else client address).
    func storePrefix(_ keys: KeyDirectory) -> [UInt8] {
        if !storeKeyPrefixReady {
            withIdempotencyCaller(keys) { caller in
                switch caller {
                case .apiKey(let digest): StoreKeys.prefix(apiKeyDigest: digest, into: &storeKeyPrefix)
                case .clientAddress(let address): StoreKeys.prefix(clientAddress: address, into: &storeKeyPrefix)
                }
            }
            storeKeyPrefixReady = true
        }
        return storeKeyPrefix
    }
}
