/// One reply from a Redis server, in RESP2 or RESP3. RESP3's aggregate kinds that mean the same
/// thing to this client fold together: sets are arrays, verbatim strings are bulk strings, the
/// null of every kind is `null`. Maps keep their entries in order, key then value.
public enum RESPValue: Equatable, Sendable {
    /// `+OK`
    case simple([UInt8])
    /// `-ERR ...`, and RESP3's blob error `!`.
    case error([UInt8])
    case integer(Int64)
    /// `$`, and RESP3's verbatim string `=` (its `txt:` prefix removed).
    case bulk([UInt8])
    /// `$-1`, `*-1`, and RESP3's `_`.
    case null
    /// `*`, and RESP3's set `~`.
    case array([RESPValue])
    /// RESP3 `%`: keys and values alternate.
    case map([RESPValue])
    case double(Double)
    case boolean(Bool)
    /// RESP3 `(`, as its decimal digits.
    case bigNumber([UInt8])
    /// RESP3 `>`: out-of-band data (client tracking, pub/sub), never the reply to a command.
    case push([RESPValue])

    /// The integer of `:`, or of a bulk or simple string holding one (Lua numbers come back as integers).
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes), .simple(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    /// The text of an error reply, for logs.
    public var errorText: String? {
        if case .error(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// Whether this is an error reply whose code (its first word) is `code`.
    public func isError(_ code: String) -> Bool {
        guard case .error(let bytes) = self else { return false }
        let word = bytes.prefix { $0 != 0x20 }
        return word.elementsEqual(code.utf8)
    }

    /// Elements of an array, set or push; nil for anything else.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let items), .push(let items): items
        default: nil
        }
    }
}
