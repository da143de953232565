import Synchronization

/// A journal I/O failure: the call that failed and errno.
public struct JournalIOError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): errno \(code)" }
}

/// Where the journal's bytes live: a file (`JournalFile`) or memory (tests). Callers serialise
/// their calls; implementations only have to be safe to hand between threads.
public protocol JournalStorage: AnyObject, Sendable {
    /// Up to `maxBytes` bytes from `offset`, appended to `buffer`; 0 at the end.
    func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int
    func append(_ bytes: [UInt8]) throws(JournalIOError)
    /// Makes appended bytes durable.
    func sync() throws(JournalIOError)
    /// A new, empty journal that replaces this one atomically when committed.
    func beginReplacement() throws(JournalIOError) -> any JournalReplacement
}

public protocol JournalReplacement: AnyObject {
    func append(_ bytes: [UInt8]) throws(JournalIOError)
    /// Durable, then in place of the old journal; later appends go to it.
    func commit() throws(JournalIOError)
}

/// The journal in memory, for tests.
public final class InMemoryJournalStorage: JournalStorage {
    private let state = Mutex(State())

    private struct State {
        var bytes: [UInt8] = []
        var syncedCount = 0
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

    public func read(at offset: Int64, maxBytes: Int, into buffer: inout [UInt8]) throws(JournalIOError) -> Int {
        state.withLock { state in
            let start = min(Int(offset), state.bytes.count)
            let end = min(start + maxBytes, state.bytes.count)
            buffer.append(contentsOf: state.bytes[start..<end])
            return end - start
        }
    }

    public func append(_ bytes: [UInt8]) throws(JournalIOError) {
        state.withLock { $0.bytes.append(contentsOf: bytes) }
    }

    public func sync() throws(JournalIOError) {
        state.withLock { $0.syncedCount = $0.bytes.count }
    }

    public func beginReplacement() throws(JournalIOError) -> any JournalReplacement {
        Replacement(target: self)
    }

    private final class Replacement: JournalReplacement {
        let target: InMemoryJournalStorage
        var bytes: [UInt8] = []

        init(target: InMemoryJournalStorage) { self.target = target }

        func append(_ bytes: [UInt8]) throws(JournalIOError) { self.bytes.append(contentsOf: bytes) }

        func commit() throws(JournalIOError) {
            let bytes = bytes
            target.state.withLock { $0 = State(bytes: bytes, syncedCount: bytes.count) }
        }
    }
}
