/// One command as RESP sends it: an array of bulk strings, written straight into one byte array
/// (one allocation per command). The argument count goes first, so it is given up front.
public struct RESPCommand: Sendable, Equatable {
    public private(set) var bytes: [UInt8] = []
    private var remaining: Int

    public init(arguments: Int, capacity: Int = 128) {
        remaining = arguments
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "*"))
        Self.decimal(arguments, into: &bytes)
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    /// A command from its words, for the few that are built once (handshake, script loading).
    public init(_ words: [String]) {
        self.init(arguments: words.count)
        for word in words { append(word) }
    }

    public var isComplete: Bool { remaining == 0 }

    public mutating func append(_ argument: some Collection<UInt8>) {
        append(argument, EmptyCollection<UInt8>())
    }

    /// One argument made of up to three pieces (a key's prefix, suffix and name), written with no
    /// copy in between.
    public mutating func append(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>,
                                _ c: some Collection<UInt8> = EmptyCollection<UInt8>()) {
        precondition(remaining > 0, "more arguments than announced")
        remaining -= 1
        bytes.append(UInt8(ascii: "$"))
        Self.decimal(a.count + b.count + c.count, into: &bytes)
        bytes.append(0x0D)
        bytes.append(0x0A)
        bytes.append(contentsOf: a)
        bytes.append(contentsOf: b)
        bytes.append(contentsOf: c)
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    public mutating func append(_ text: String) {
        append(text.utf8)
    }

    /// A number as its decimal digits, written in place (no temporary).
    public mutating func append(_ number: Int64) {
        precondition(remaining > 0, "more arguments than announced")
        remaining -= 1
        var length = number < 0 ? 2 : 1
        var rest = number.magnitude
        while rest >= 10 {
            length += 1
            rest /= 10
        }
        bytes.append(UInt8(ascii: "$"))
        Self.decimal(length, into: &bytes)
        bytes.append(0x0D)
        bytes.append(0x0A)
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        Self.decimal(number.magnitude, into: &bytes)
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    private static func decimal(_ value: some BinaryInteger, into out: inout [UInt8]) {
        if value >= 10 { decimal(value / 10, into: &out) }
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
