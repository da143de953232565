import COpenSSL
import Synchronization

/// The keys that seal session tickets, shared by every loop (a ticket issued on one loop resumes
/// on any). Made at random when the TLS context is built and never written anywhere: a restart
/// simply costs returning clients one full handshake. Every `rotationMs` a new key takes over;
/// tickets sealed under the one before still resume (and get a fresh ticket), older ones do not.
/// A session lives at most `sessionLifetimeSeconds`, no longer than a key is accepted.
final class TicketKeys: @unchecked Sendable {
    static let rotationMs: UInt64 = 3_600_000
    static let sessionLifetimeSeconds = 3600

    /// 16 bytes of name (how a ticket says which key sealed it), an AES-256 key and an HMAC-SHA256 key.
    private struct Key {
        static let size = 80
        let bytes: [UInt8]
        let madeAt: UInt64

        init?(madeAt: UInt64) {
            var bytes = [UInt8](repeating: 0, count: Key.size)
            guard RAND_bytes(&bytes, Int32(Key.size)) == 1 else { return nil }
            self.bytes = bytes
            self.madeAt = madeAt
        }

        func hasName(_ name: UnsafePointer<UInt8>) -> Bool { bytes[0..<16].elementsEqual(UnsafeBufferPointer(start: name, count: 16)) }
    }

    /// Newest first; at most two.
    private let keys: Mutex<[Key]>
    /// AES-256-CBC, looked up once: naming it for every ticket (EVP_aes_256_cbc) makes OpenSSL 3
    /// search its providers each time. Immutable, so every loop may use it (hence @unchecked).
    private let cipher: OpaquePointer

    init?(now: UInt64) {
        guard let first = Key(madeAt: now), let cipher = EVP_CIPHER_fetch(nil, "AES-256-CBC", nil) else { return nil }
        keys = Mutex([first])
        self.cipher = cipher
    }

    deinit { EVP_CIPHER_free(cipher) }

    /// The key new tickets are sealed with, rotating first when the current one is old enough.
    private func current(now: UInt64) -> Key {
        keys.withLock { keys in
            if now &- keys[0].madeAt >= Self.rotationMs, let fresh = Key(madeAt: now) {
                keys = [fresh, keys[0]]
            }
            return keys[0]
        }
    }

    /// The key a ticket names, and whether it is the current one.
    private func find(_ name: UnsafeMutablePointer<UInt8>) -> (Key, isCurrent: Bool)? {
        keys.withLock { keys in
            guard let index = keys.firstIndex(where: { $0.hasName(name) }) else { return nil }
            return (keys[index], index == 0)
        }
    }

    /// SSL_CTX_set_tlsext_ticket_key_evp_cb's contract: seal (`encrypt`: name the key, pick an IV,
    /// set up AES-256-CBC and HMAC-SHA256) and answer 1; open: 0 for an unknown key (full
    /// handshake), 1 to accept, 2 to accept and issue a new ticket. TLS 1.3 always gets a new one
    /// (as OpenSSL's own keys and nginx do): clients use a TLS 1.3 ticket once, so without it
    /// every other connection would be a full handshake. TLS 1.2 keeps its ticket while its key
    /// is the current one.
    func seal(name: UnsafeMutablePointer<UInt8>, iv: UnsafeMutablePointer<UInt8>, context: OpaquePointer, mac: OpaquePointer,
              encrypt: Bool, tls13: Bool, now: UInt64) -> Int32 {
        let ivLength = Int32(16)
        if encrypt {
            let key = current(now: now)
            guard RAND_bytes(iv, ivLength) == 1 else { return -1 }
            return key.bytes.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress else { return -1 }
                name.update(from: base, count: 16)
                guard EVP_EncryptInit_ex(context, cipher, nil, base + 16, iv) == 1,
                      gw_ticket_hmac_init(mac, base + 48, 32) == 1 else { return -1 }
                return 1
            }
        }
        guard let (key, isCurrent) = find(name) else { return 0 }
        return key.bytes.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress,
                  gw_ticket_hmac_init(mac, base + 48, 32) == 1,
                  EVP_DecryptInit_ex(context, cipher, nil, base + 16, iv) == 1 else { return -1 }
            return isCurrent && !tls13 ? 1 : 2
        }
    }
}
