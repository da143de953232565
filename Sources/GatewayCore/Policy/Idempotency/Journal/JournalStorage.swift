#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A journal I/O failure: the call that failed and errno.
public struct JournalIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Where the journal's bytes live: a file (`JournalFile`) or memory (tests). Callers serialise
/// writes; reads of bytes already written may run beside them.
public protocol JournalStorage: AnyObject, Sendable {
    /// Up to `maxBytes` bytes from `offset`, appended to `buffer`; 0 at the end.
    func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int
    /// All of `bytes` at `offset`, or an error (bytes past `offset` may then be partly written).
    func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError)
    /// Makes written bytes durable.
    func sync() throws(JournalIOError)
    func size() throws(JournalIOError) -> Int64
    /// A new, empty journal that replaces this one atomically when committed.
    func beginReplacement() throws(JournalIOError) -> any JournalReplacement
}

public protocol JournalReplacement: AnyObject {
    func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError)
    func sync() throws(JournalIOError)
    /// Durable, then in place of the old journal: the storage it came from now reads and
    /// writes the new bytes.
    func commit() throws(JournalIOError)
    /// Gives up: the old journal stays as it is and the partial new one is removed.
    func abandon()
}

/// The journal in memory, for tests and the fuzzer.
public final class InMemoryJournalStorage: JournalStorage {
    private let state = Mutex(State())

    private struct State {
        var bytes: [UInt8] = []
        var syncedCount = 0
        /// Set by tests: writes past this size fail with ENOSPC.
        var capacity = Int.max
    }

    public init(bytes: [UInt8] = []) {
        state.withLock { $0.bytes = bytes }
    }

    public var bytes: [UInt8] {
        get { state.withLock { $0.bytes } }
        set { state.withLock { $0.bytes = newValue } }
    }

    /// How many bytes the last `sync` covered.
    public var syncedCount: Int { state.withLock { $0.syncedCount } }

    /// A disk that fills up: writes that would end past `capacity` bytes fail.
    public var capacity: Int {
        get { state.withLock { $0.capacity } }
        set { state.withLock { $0.capacity = newValue } }
    }

    public func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int {
        state.withLock { state in
            let start = min(Int(offset), state.bytes.count)
            let end = min(start + maxBytes, state.bytes.count)
            buffer.append(contentsOf: state.bytes[start..<end])
            return end - start
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) {
        let full = state.withLock { state -> Bool in
            guard Int(offset) + bytes.count <= state.capacity else { return true }
            Self.place(bytes, at: Int(offset), in: &state.bytes)
            return false
        }
        if full { throw JournalIOError("write", path: "memory", code: 28) }  // ENOSPC
    }

    public func sync() throws(JournalIOError) {
        state.withLock { $0.syncedCount = $0.bytes.count }
    }

    public func size() throws(JournalIOError) -> Int64 {
        Int64(state.withLock { $0.bytes.count })
    }

    public func beginReplacement() throws(JournalIOError) -> any JournalReplacement {
        Replacement(target: self)
    }

    fileprivate static func place(_ bytes: [UInt8], at offset: Int, in target: inout [UInt8]) {
        if target.count < offset { target.append(contentsOf: repeatElement(0, count: offset - target.count)) }
        let overlap = min(bytes.count, target.count - offset)
        target.replaceSubrange(offset..<offset + overlap, with: bytes[..<overlap])
        target.append(contentsOf: bytes[overlap...])
    }

    private final class Replacement: JournalReplacement {
        let target: InMemoryJournalStorage
        var bytes: [UInt8] = []

        init(target: InMemoryJournalStorage) { self.target = target }

        func write(_ bytes: [UInt8], at offset: Int64) throws(JournalIOError) {
            guard Int(offset) + bytes.count <= target.capacity else { throw JournalIOError("write", path: "memory", code: 28) }
            InMemoryJournalStorage.place(bytes, at: Int(offset), in: &self.bytes)
        }

        func sync() throws(JournalIOError) {}

        func commit() throws(JournalIOError) {
            let bytes = bytes
            target.state.withLock { $0.bytes = bytes; $0.syncedCount = bytes.count }
        }

        func abandon() { bytes = [] }
    }
}
