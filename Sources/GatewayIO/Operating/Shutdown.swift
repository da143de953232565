import GatewayCore
import Glibc
import Synchronization

/// The graceful drain of SIGTERM and SIGINT, across every loop: each stops accepting, answers
/// what it has already received (`Connection: close` on every answer, idle connections closed)
/// and reports once its last client connection is gone. When every loop has, or when
/// `shutdown_timeout` passes first, the idempotency journal is synced and the process exits 0.
/// A second signal exits at once with status 1. From the first signal on, `/readyz` says 503.
final class Shutdown: Sendable {
    private let mailboxes: [LoopMailbox]
    private let status: GatewayStatus
    private let idempotency: IdempotencyStage?
    private let accessLog: AccessLogWriter?
    private let pidFile: String?
    private let loopsBusy: Atomic<Int>
    private let finished = Atomic<Bool>(false)

    init(mailboxes: [LoopMailbox], status: GatewayStatus, idempotency: IdempotencyStage?, accessLog: AccessLogWriter?,
         pidFile: String?) {
        self.mailboxes = mailboxes
        self.status = status
        self.idempotency = idempotency
        self.accessLog = accessLog
        self.pidFile = pidFile
        loopsBusy = Atomic(mailboxes.count)
    }

    /// On the first loop, for SIGTERM or SIGINT: starts the drain, or, the second time, exits.
    func signalled(_ name: String, timeoutMs: Int64) {
        // Only the first loop reads these signals: nothing races between the check and the mark.
        guard !status.isDraining else {
            Log.warn("\(name) again: exiting at once, cutting off what is still in flight")
            if let pidFile { PidFile.remove(pidFile) }
            _exit(1)
        }
        status.beginDraining()
        Log.info("\(name): draining: no new connections; finishing requests in flight for up to \(timeoutMs) ms")
        for mailbox in mailboxes { mailbox.post(.drain) }
    }

    /// Each loop calls this once, when draining has closed its last client connection.
    func loopDrained() {
        if loopsBusy.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            finish("every request in flight is answered")
        }
    }

    /// `shutdown_timeout` passed.
    func timedOut() {
        finish("shutdown_timeout passed with connections of \(loopsBusy.load(ordering: .relaxed)) loop(s) still open; they are cut off")
    }

    private func finish(_ reason: String) {
        guard finished.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        // Whatever the fsync policy, an orderly exit leaves every journal record on disk, and the
        // access log every line the loops handed over.
        idempotency?.store.syncJournal()
        accessLog?.waitUntilWritten(timeoutMs: 1000)
        if let pidFile { PidFile.remove(pidFile) }
        Log.info("drained: \(reason); exiting")
        // _exit, not exit: the other loops are still running, and nothing is left to flush.
        _exit(0)
    }
}

/// `shutdown_timeout`, on the first loop.
final class DrainTimer: EventHandler {
    private let loop: EventLoop
    private let shutdown: Shutdown
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(loop: EventLoop, shutdown: Shutdown) {
        self.loop = loop
        self.shutdown = shutdown
    }

    func start(_ timeoutMs: Int64) {
        deadline = loop.now + UInt64(max(timeoutMs, 1))
        loop.deadlineChanged(self)
    }

    func handleEvent(_ flags: UInt32) {}

    func deadlineExpired() { shutdown.timedOut() }
}
