import GatewayCore

/// Syncs the idempotency journal on a timer, so with `fsync interval` the last records before a
/// quiet period reach the disk within one interval instead of waiting for the next write.
final class JournalFlusher: EventHandler {
    private let loop: EventLoop
    private let store: IdempotencyStore
    private let intervalMs: UInt64
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(loop: EventLoop, store: IdempotencyStore, intervalMs: UInt64) {
        self.loop = loop
        self.store = store
        self.intervalMs = max(intervalMs, 10)
        rearm()
    }

    func handleEvent(_ flags: UInt32) {}

    func deadlineExpired() {
        store.flushJournal(now: Clock.wallMillis())
        rearm()
    }

    private func rearm() {
        deadline = loop.now + intervalMs
        loop.deadlineChanged(self)
    }
}
