import CSystem
import GatewayCore

/// Gives memory back after a spike. Every second it frees the read buffers and request slots that
/// sat unused for the whole second (down to a few spares), and when it freed something, or many
/// connections have closed since, it hands the heap's free pages back to the kernel: without that,
/// resident memory would stay at the peak of the busiest minute for the life of the process.
/// Under io_uring it also releases the pages of the receive buffers nobody holds, every second.
final class MemoryTrimmer: EventHandler {
    private let worker: WorkerContext
    var deadline: UInt64 = 0
    var timer = TimerLink()
    private var connectionsAtLastTrim = 0
    static let intervalMs: UInt64 = 1000
    static let spares = 16
    /// Closed connections that make a trim worth its scan of the heap.
    static let closedWorthTrimming = 512

    init(worker: WorkerContext) {
        self.worker = worker
        rearm()
    }

    func handleEvent(_ flags: UInt32) {}

    func deadlineExpired() {
        let loop = worker.loop
        let freed = loop.trimFreeBuffers(keeping: Self.spares) + worker.environment.slots.trim(keeping: Self.spares)
        let open = loop.openConnections
        if freed > 0 || open + Self.closedWorthTrimming <= connectionsAtLastTrim {
            _ = csys_malloc_trim()
            connectionsAtLastTrim = open
        }
        connectionsAtLastTrim = max(connectionsAtLastTrim, open)
        // The kernel picks receive buffers in ring order, so under traffic every one is touched;
        // releasing the idle ones each second costs a page fault per page on its next use (about
        // a millisecond a second when busy) and keeps them from counting as resident when quiet.
        loop.ringSockets?.requestPageRelease()
        rearm()
    }

    private func rearm() {
        deadline = worker.loop.now + Self.intervalMs
        worker.loop.deadlineChanged(self)
    }
}
