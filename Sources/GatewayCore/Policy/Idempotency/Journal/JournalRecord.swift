/// One journal record, the whole state of one key: reserved by a request in flight, settled
/// (stored, completed-unreplayable, unknown outcome) or removed.
public enum JournalRecord: Sendable {
    case settled(IdempotencyCacheKey, SettledEntry)
    /// `deadline`: when the key expires if no later record settles it (the gateway stopped while
    /// the request was in flight: its outcome is unknown).
    case reserved(IdempotencyCacheKey, deadline: UInt64)
    case removed(IdempotencyCacheKey)

    private enum Kind: UInt8 { case stored = 1, notReplayable, unknownOutcome, removed, reserved }

    /// Payload layout, integers little-endian: kind u8, key (u16 length + bytes), then for a
    /// reservation its deadline u64; for settled entries deadline u64, fingerprint flag u8
    /// (+ 32 bytes), and for stored responses status u16, reason (u16 + bytes), header lines
    /// (u32 + bytes), body (u32 + bytes).
    /// The payload, behind `reserving` bytes of room (for the frame header).
    func encode(reserving: Int = 0) -> [UInt8] {
        var out = JournalWriter(reserving: reserving)
        switch self {
        case .removed(let key):
            out.u8(Kind.removed.rawValue)
            out.bytes(key.bytes, lengthBytes: 2)
        case .reserved(let key, let deadline):
            out.u8(Kind.reserved.rawValue)
            out.bytes(key.bytes, lengthBytes: 2)
            out.integer(deadline, byteCount: 8)
        case .settled(let key, let entry):
            let kind: Kind
            switch entry.outcome {
            case .stored: kind = .stored
            case .notReplayable: kind = .notReplayable
            case .unknownOutcome: kind = .unknownOutcome
            }
            out.u8(kind.rawValue)
            out.bytes(key.bytes, lengthBytes: 2)
            out.integer(entry.deadline, byteCount: 8)
            if let fingerprint = entry.fingerprint {
                out.u8(1)
                out.raw(fingerprint.bytes)
            } else {
                out.u8(0)
            }
            if case .stored(let response) = entry.outcome {
                out.integer(UInt64(response.status), byteCount: 2)
                out.bytes(response.reason, lengthBytes: 2)
                out.bytes(response.headerLines, lengthBytes: 4)
                out.bytes(response.body, lengthBytes: 4)
            }
        }
        return out.output
    }

    /// nil when the payload does not follow the layout (a record from a different format).
    init?(decoding payload: ArraySlice<UInt8>) {
        var input = JournalReader(payload)
        guard let kind = input.u8().flatMap(Kind.init(rawValue:)), let keyBytes = input.bytes(lengthBytes: 2) else { return nil }
        let key = IdempotencyCacheKey(bytes: keyBytes)
        if kind == .removed {
            guard input.atEnd else { return nil }
            self = .removed(key)
            return
        }
        if kind == .reserved {
            guard let deadline = input.integer(byteCount: 8), input.atEnd else { return nil }
            self = .reserved(key, deadline: deadline)
            return
        }
        guard let deadline = input.integer(byteCount: 8), let flag = input.u8(), flag <= 1 else { return nil }
        var fingerprint: RequestFingerprint?
        if flag == 1 {
            guard let digest = input.raw(32) else { return nil }
            fingerprint = RequestFingerprint(bytes: digest)
        }
        let outcome: SettledOutcome
        switch kind {
        case .notReplayable: outcome = .notReplayable
        case .unknownOutcome: outcome = .unknownOutcome
        default:
            guard let status = input.integer(byteCount: 2), let reason = input.bytes(lengthBytes: 2),
                  let headerLines = input.bytes(lengthBytes: 4), let body = input.bytes(lengthBytes: 4) else { return nil }
            outcome = .stored(StoredResponse(status: Int(status), reason: reason, headerLines: headerLines, body: body))
        }
        guard input.atEnd else { return nil }
        self = .settled(key, SettledEntry(outcome: outcome, fingerprint: fingerprint, deadline: deadline))
    }
}

private struct JournalWriter {
    var output: [UInt8]

    init(reserving: Int) { output = [UInt8](repeating: 0, count: reserving) }

    mutating func u8(_ value: UInt8) { output.append(value) }

    mutating func integer(_ value: UInt64, byteCount: Int) {
        for i in 0..<byteCount { output.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    mutating func raw(_ bytes: [UInt8]) { output.append(contentsOf: bytes) }

    mutating func bytes(_ bytes: [UInt8], lengthBytes: Int) {
        integer(UInt64(bytes.count), byteCount: lengthBytes)
        output.append(contentsOf: bytes)
    }
}

private struct JournalReader {
    let input: ArraySlice<UInt8>
    var position: Int

    init(_ input: ArraySlice<UInt8>) {
        self.input = input
        position = input.startIndex
    }

    var atEnd: Bool { position == input.endIndex }

    mutating func u8() -> UInt8? { integer(byteCount: 1).map { UInt8($0) } }

    mutating func integer(byteCount: Int) -> UInt64? {
        guard input.endIndex - position >= byteCount else { return nil }
        var value: UInt64 = 0
        for i in 0..<byteCount { value |= UInt64(input[position + i]) << (8 * UInt64(i)) }
        position += byteCount
        return value
    }

    mutating func raw(_ count: Int) -> [UInt8]? {
        guard input.endIndex - position >= count else { return nil }
        defer { position += count }
        return Array(input[position..<position + count])
    }

    mutating func bytes(lengthBytes: Int) -> [UInt8]? {
        guard let count = integer(byteCount: lengthBytes) else { return nil }
        return raw(Int(count))
    }
}
