import GatewayCore

/// Tiny JSON writer over GatewayCore's escaping.
struct JSONOut {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func string(_ text: String) { JSONEscaping.appendQuoted(text, to: &bytes) }

    mutating func string(bytes value: [UInt8]) {
        value.withUnsafeBufferPointer { JSONEscaping.appendQuoted(utf8: $0, to: &bytes) }
    }

    mutating func int(_ value: Int) { JSONEscaping.appendInt(value, to: &bytes) }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }
}
