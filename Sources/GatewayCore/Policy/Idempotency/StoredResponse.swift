/// A final upstream response kept for replay. Immutable, so every loop can hold it while another
/// evicts its entry.
public final class StoredResponse: Sendable {
    public let status: Int
    public let reason: [UInt8]
    /// The header section as the client was sent it (see `ResponseRecorder`), each line
    /// `Name: value\r\n`, ending with the original `X-Request-Id`.
    public let headerLines: [UInt8]
    public let body: [UInt8]

    public init(status: Int, reason: [UInt8], headerLines: [UInt8], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headerLines = headerLines
        self.body = body
    }

    /// Heap bytes this response pins: the object and its three arrays' storage.
    var memoryCost: Int {
        IdempotencyMemory.objectHeader + MemoryLayout<Int>.stride + 3 * MemoryLayout<[UInt8]>.stride
            + IdempotencyMemory.arrayCost(reason) + IdempotencyMemory.arrayCost(headerLines) + IdempotencyMemory.arrayCost(body)
    }
}

/// What the recorder made of a final response.
public enum RecordedResponse: Sendable {
    case replayable(StoredResponse)
    /// Larger than the store's limit: the key is spent but cannot be replayed.
    case notReplayable(status: Int)

    public var status: Int {
        switch self {
        case .replayable(let response): response.status
        case .notReplayable(let status): status
        }
    }
}

/// Byte costs of the store's allocations, counted against `max_memory` (64-bit Swift runtime layout).
enum IdempotencyMemory {
    /// isa pointer and reference counts in front of every heap object.
    static let objectHeader = 16
    /// An array's heap buffer: object header, count and capacity, then the elements.
    static func arrayCost(_ array: [UInt8]) -> Int {
        array.capacity == 0 ? 0 : objectHeader + 16 + array.capacity
    }
}
