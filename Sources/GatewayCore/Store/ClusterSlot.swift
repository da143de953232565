/// Redis Cluster's key-to-slot mapping: CRC16 (XMODEM: polynomial 0x1021, initial 0) of the key,
/// or of its hash tag, modulo 16384. The hash tag is what lies between the first `{` and the
/// first `}` after it, when that is not empty: the gateway names every key of one API key
/// `gw:{<tag>}:...`, so a script that touches them all runs on one shard.
public enum ClusterSlot {
    public static let count = 16384

    public static func slot(_ key: some Collection<UInt8>) -> Int {
        Int(crc16(hashed(key)) & UInt16(count - 1))
    }

    public static func slot(_ key: String) -> Int { slot(Array(key.utf8)) }

    /// The part of the key that is hashed.
    static func hashed<C: Collection<UInt8>>(_ key: C) -> C.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte))] }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
