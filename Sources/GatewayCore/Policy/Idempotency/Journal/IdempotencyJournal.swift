import Synchronization

/// When appended records are made durable.
public enum JournalSyncPolicy: Sendable, Equatable {
    /// fsync after every record: nothing acknowledged is lost, at the cost of one fsync per
    /// completed idempotent request on the loop that completes it.
    case always
    /// fsync at most once per interval, on the next append or `flush(now:)` after it has passed.
    case interval(ms: UInt64)
    /// Leave it to the kernel's writeback.
    case never
}

/// Appends records for every event loop, under one lock of its own: only settled and evicted
/// keys are journalled, never the lookups on the hot path. A failed write does not fail the
/// request (the entry still protects retries from memory); it is counted for the operator.
public final class IdempotencyJournal: Sendable {
    public let policy: JournalSyncPolicy
    private let state: Mutex<State>

    private struct State {
        let storage: any JournalStorage
        var lastSyncMs: UInt64 = 0
        var unsynced = false
        var failures = 0
        var lastError: JournalIOError?
    }

    public init(storage: any JournalStorage, policy: JournalSyncPolicy) {
        self.policy = policy
        state = Mutex(State(storage: storage))
    }

    /// Write failures so far and the most recent one, for logging.
    public var health: (failures: Int, lastError: JournalIOError?) {
        state.withLock { ($0.failures, $0.lastError) }
    }

    func append(_ record: JournalRecord, now: UInt64) {
        let frame = JournalFrame.encode(record)
        state.withLock { state in
            do throws(JournalIOError) {
                try state.storage.append(frame)
                state.unsynced = true
                switch policy {
                case .always: try Self.sync(&state, now: now)
                case .interval(let ms) where now &- state.lastSyncMs >= ms: try Self.sync(&state, now: now)
                default: break
                }
            } catch {
                state.failures += 1
                state.lastError = error
            }
        }
    }

    /// For the `interval` policy: the I/O calls this from a timer so the last records of a quiet
    /// period are not left unsynced.
    public func flush(now: UInt64) {
        state.withLock { state in
            guard state.unsynced, policy != .never else { return }
            do throws(JournalIOError) {
                try Self.sync(&state, now: now)
            } catch {
                state.failures += 1
                state.lastError = error
            }
        }
    }

    private static func sync(_ state: inout State, now: UInt64) throws(JournalIOError) {
        try state.storage.sync()
        state.lastSyncMs = now
        state.unsynced = false
    }
}
