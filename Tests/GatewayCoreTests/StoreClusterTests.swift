import XCTest
@testable import GatewayCore

/// Redis Cluster's slot hashing (known vectors from the Redis documentation and the CRC's own
/// check value), hash tags, CLUSTER SLOTS replies and MOVED/ASK redirections.
final class StoreClusterTests: XCTestCase {
    func testCRC16IsXModem() {
        XCTAssertEqual(ClusterSlot.crc16(Array("123456789".utf8)), 0x31C3)
        XCTAssertEqual(ClusterSlot.crc16([UInt8]()), 0)
    }

    func testKnownSlots() {
        XCTAssertEqual(ClusterSlot.slot("somekey"), 11058)
        XCTAssertEqual(ClusterSlot.slot("foo"), 12182)
        XCTAssertEqual(ClusterSlot.slot("foo{hash_tag}"), 2515)
        XCTAssertEqual(ClusterSlot.slot("bar{hash_tag}"), 2515)
    }

    func testHashTags() {
        XCTAssertEqual(ClusterSlot.slot("{user1000}.following"), ClusterSlot.slot("{user1000}.followers"))
        XCTAssertEqual(ClusterSlot.slot("foo{}{bar}"), ClusterSlot.slot(Array("foo{}{bar}".utf8)), "an empty tag hashes the whole key")
        XCTAssertEqual(ClusterSlot.slot("foo{{bar}}zap"), ClusterSlot.slot("{bar"))
        XCTAssertEqual(ClusterSlot.slot("foo{bar}{zap}"), ClusterSlot.slot("bar"))
        XCTAssertEqual(ClusterSlot.slot("no-close{tag"), Int(ClusterSlot.crc16(Array("no-close{tag".utf8)) & 16383))
    }

    func testEveryKeyOfOneCallerSharesASlot() {
        var prefix: [UInt8] = []
        KeyHash.sha256("demo-key-123").withUnsafeBytes { StoreKeys.prefix(apiKeyDigest: $0, into: &prefix) }
        XCTAssertEqual(String(decoding: prefix, as: UTF8.self), "gw:{a52782e3a2d4dd2f}:")
        let slot = ClusterSlot.slot(prefix)
        for suffix in [StoreKeys.keyBucket, StoreKeys.keySlots, StoreKeys.quota, StoreKeys.routeBucket + Array("/v1/".utf8)] {
            XCTAssertEqual(ClusterSlot.slot(prefix + suffix), slot)
        }
        Array("10.0.0.1".utf8).withUnsafeBytes { StoreKeys.prefix(clientAddress: $0, into: &prefix) }
        XCTAssertEqual(String(decoding: prefix, as: UTF8.self), "gw:{ip:10.0.0.1}:")
    }

    func testSlotMapFromClusterSlots() throws {
        func node(_ port: Int64) -> RESPValue { .array([.bulk(Array("127.0.0.1".utf8)), .integer(port), .bulk(Array("id".utf8))]) }
        let reply = RESPValue.array([
            .array([.integer(0), .integer(5460), node(7000), node(7003)]),
            .array([.integer(5461), .integer(10922), node(7001)]),
            .array([.integer(10923), .integer(16383), node(7002)]),
        ])
        let map = try XCTUnwrap(ClusterTopology.slotMap(reply))
        XCTAssertEqual(map[0]?.port, 7000)
        XCTAssertEqual(map[5460]?.port, 7000)
        XCTAssertEqual(map[5461]?.port, 7001)
        XCTAssertEqual(map[16383]?.port, 7002)
        XCTAssertNil(ClusterTopology.slotMap(.error(Array("ERR This instance has cluster support disabled".utf8))))
        XCTAssertNil(ClusterTopology.slotMap(.array([.array([.integer(9), .integer(3), node(7000)])])), "a range backwards")
    }

    func testRedirections() {
        XCTAssertEqual(ClusterTopology.redirect(.error(Array("MOVED 3999 127.0.0.1:6381".utf8))),
                       ClusterTopology.Redirect(ask: false, slot: 3999, node: .init(host: "127.0.0.1", port: 6381)))
        XCTAssertEqual(ClusterTopology.redirect(.error(Array("ASK 12 [::1]:7000".utf8))),
                       ClusterTopology.Redirect(ask: true, slot: 12, node: .init(host: "::1", port: 7000)))
        for text in ["MOVED 99999 h:1", "MOVED x h:1", "ERR wrong", "MOVED 1 nohost"] {
            XCTAssertNil(ClusterTopology.redirect(.error(Array(text.utf8))), text)
        }
        XCTAssertNil(ClusterTopology.redirect(.simple(Array("MOVED 1 h:1".utf8))))
    }
}
