/// What Redis Cluster tells a client about where keys live: `CLUSTER SLOTS` (the slot ranges and
/// each range's master) and the `MOVED` / `ASK` redirections a node answers for a key it does
/// not serve. Pure parsing; the I/O keeps the map and follows the redirections.
public enum ClusterTopology {
    public struct Node: Hashable, Sendable {
        public var host: String
        public var port: UInt16

        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }
    }

    /// Each slot's master, from a `CLUSTER SLOTS` reply (one entry per slot, nil where no master
    /// is known); nil when the reply is not one (a server without cluster mode answers an error).
    public static func slotMap(_ reply: RESPValue) -> [Node?]? {
        guard let ranges = reply.elements else { return nil }
        var map = [Node?](repeating: nil, count: ClusterSlot.count)
        for range in ranges {
            guard let fields = range.elements, fields.count >= 3, let first = fields[0].integer, let last = fields[1].integer,
                  first >= 0, last < Int64(ClusterSlot.count), first <= last,
                  let master = fields[2].elements, master.count >= 2, case .bulk(let host) = master[0],
                  let port = master[1].integer, (1...65535).contains(port) else { return nil }
            let node = Node(host: String(decoding: host, as: UTF8.self), port: UInt16(port))
            for slot in Int(first)...Int(last) { map[slot] = node }
        }
        return map
    }

    public struct Redirect: Equatable, Sendable {
        /// `ASK`: this one command goes to `node`, after `ASKING`; `MOVED`: the slot lives there now.
        public var ask: Bool
        public var slot: Int
        public var node: Node
    }

    /// `MOVED 3999 127.0.0.1:6381` or `ASK 3999 127.0.0.1:6381`; nil for any other reply.
    public static func redirect(_ reply: RESPValue) -> Redirect? {
        guard case .error(let bytes) = reply else { return nil }
        let words = bytes.split(separator: 0x20)
        guard words.count == 3 else { return nil }
        let kind = String(decoding: words[0], as: UTF8.self)
        guard kind == "MOVED" || kind == "ASK", let slot = Int(String(decoding: words[1], as: UTF8.self)),
              (0..<ClusterSlot.count).contains(slot), let colon = words[2].lastIndex(of: UInt8(ascii: ":")),
              let port = UInt16(String(decoding: words[2][(colon + 1)...], as: UTF8.self)) else { return nil }
        var host = String(decoding: words[2][..<colon], as: UTF8.self)
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return Redirect(ask: kind == "ASK", slot: slot, node: Node(host: host, port: port))
    }
}
