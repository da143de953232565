/// The `Idempotency-Key` field value (draft-ietf-httpapi-idempotency-key-header): a structured-field
/// string (`"8e03..."`), or, as many clients send it, the same characters bare.
public enum IdempotencyKeySyntax {
    public static let maxLength = 255

    /// The key's characters (1...255 visible ASCII, escapes resolved), or nil if the value is malformed.
    /// Quoted and bare spellings of the same characters are the same key.
    public static func parse(_ value: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let first = value.first else { return nil }
        if first != UInt8(ascii: "\"") {
            guard value.count <= maxLength, value.allSatisfy(isVisible) else { return nil }
            return Array(value)
        }
        var key: [UInt8] = []
        var i = 1
        while i < value.count {
            var byte = value[i]
            if byte == UInt8(ascii: "\"") {
                // The closing quote must end the value: no parameters, no trailing garbage.
                return i == value.count - 1 && !key.isEmpty ? key : nil
            }
            if byte == UInt8(ascii: "\\") {
                i += 1
                guard i < value.count, value[i] == UInt8(ascii: "\"") || value[i] == UInt8(ascii: "\\") else { return nil }
                byte = value[i]
            }
            guard isVisible(byte), key.count < maxLength else { return nil }
            key.append(byte)
            i += 1
        }
        return nil
    }

    private static func isVisible(_ byte: UInt8) -> Bool { byte >= 0x21 && byte <= 0x7E }
}
