import COpenSSL
import XCTest
@testable import GatewayIO

/// Session-ticket keys on a hand-driven clock: a ticket opens under the key that sealed it, is
/// renewed once that key has been replaced, and stops opening a rotation later.
final class TicketKeysTests: XCTestCase {
    private var cipher: OpaquePointer!
    private var macs: [OpaquePointer] = []
    private var mac: OpaquePointer!

    override func setUpWithError() throws {
        cipher = try XCTUnwrap(EVP_CIPHER_CTX_new())
        mac = try XCTUnwrap(EVP_MAC_fetch(nil, "HMAC", nil))
    }

    override func tearDown() {
        EVP_CIPHER_CTX_free(cipher)
        macs.forEach { EVP_MAC_CTX_free($0) }
        EVP_MAC_free(mac)
    }

    /// Seals (encrypt) or opens a ticket named `name`; returns the callback's verdict.
    private func run(_ keys: TicketKeys, _ name: inout [UInt8], encrypt: Bool, tls13: Bool = false, at now: UInt64) throws -> Int32 {
        var iv = [UInt8](repeating: 7, count: 16)
        let context = try XCTUnwrap(EVP_MAC_CTX_new(mac))
        macs.append(context)
        return keys.seal(name: &name, iv: &iv, context: cipher, mac: context, encrypt: encrypt, tls13: tls13, now: now)
    }

    func testTicketsOutliveOneRotationAndNotTwo() throws {
        let start: UInt64 = 1_000
        let keys = try XCTUnwrap(TicketKeys(now: start))
        var first = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(try run(keys, &first, encrypt: true, at: start), 1)
        XCTAssertEqual(try run(keys, &first, encrypt: false, at: start + 10), 1, "the current key opens its tickets")
        XCTAssertEqual(try run(keys, &first, encrypt: false, tls13: true, at: start + 10), 2, "a TLS 1.3 ticket is always replaced")

        var second = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(try run(keys, &second, encrypt: true, at: start + TicketKeys.rotationMs), 1)
        XCTAssertNotEqual(first, second, "a new key took over")
        XCTAssertEqual(try run(keys, &first, encrypt: false, at: start + TicketKeys.rotationMs), 2, "the previous key opens and renews")

        var third = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(try run(keys, &third, encrypt: true, at: start + 2 * TicketKeys.rotationMs), 1)
        XCTAssertEqual(try run(keys, &first, encrypt: false, at: start + 2 * TicketKeys.rotationMs), 0, "two rotations later: a full handshake")
        XCTAssertEqual(try run(keys, &second, encrypt: false, at: start + 2 * TicketKeys.rotationMs), 2)
        var unknown = [UInt8](repeating: 0xAB, count: 16)
        XCTAssertEqual(try run(keys, &unknown, encrypt: false, at: start), 0)
    }
}
