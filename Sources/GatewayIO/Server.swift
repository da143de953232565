import CSystem
import GatewayCore
import Glibc

/// Starts one event loop per worker, each with its own SO_REUSEPORT listener so the kernel
/// spreads connections across loops and no loop ever waits on another.
public enum Server {
    public static func workerCount(_ configured: Int?) -> Int {
        configured ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Binds every listener first (so an address that is taken or bad fails before anything else,
    /// the idempotency journal included, is touched), then runs the loops; never returns.
    public static func run(config: GatewayConfig, addresses: ResolvedAddresses) throws(SystemError) -> Never {
        csys_ignore_sigpipe()
        let hangup = HangupSignal.block()
        _ = csys_raise_nofile_limit()
        let workers = workerCount(config.workers)
        let listenersPerWorker = try ListenSockets.open(addresses.listen, workers: workers)
        let pipeline = RequestPipeline(config: config)
        let idempotency = try startIdempotency(config)
        let listenText = addresses.listen.map(\.address.description).joined(separator: ", ")
        Log.info("gateway listening on \(listenText) with \(workers) worker(s)")
        for fds in listenersPerWorker.dropFirst() {
            Thread.start {
                runWorker(config: config, addresses: addresses, pipeline: pipeline, idempotency: idempotency, listeners: fds)
            }
        }
        runWorker(config: config, addresses: addresses, pipeline: pipeline, idempotency: idempotency,
                  listeners: listenersPerWorker[0], flushesJournal: true, hangup: hangup)
    }

    /// The first worker (on the main thread) also flushes the journal and hears SIGHUP.
    private static func runWorker(config: GatewayConfig, addresses: ResolvedAddresses, pipeline: RequestPipeline,
                                  idempotency: IdempotencyStage?, listeners: [Int32], flushesJournal: Bool = false,
                                  hangup: Int32 = -1) -> Never {
        let worker = WorkerContext(config: config, addresses: addresses, pipeline: pipeline, idempotency: idempotency)
        for fd in listeners { _ = Listener(fd: fd, worker: worker) }
        _ = HangupSignal(fd: hangup, loop: worker.loop)
        if flushesJournal, let idempotency, case .interval(let ms) = idempotency.config.sync {
            _ = JournalFlusher(loop: worker.loop, store: idempotency.store, intervalMs: ms)
        }
        worker.loop.run()
    }

    /// Restores the idempotency journal (reporting what was skipped) before any request is served.
    private static func startIdempotency(_ config: GatewayConfig) throws(SystemError) -> IdempotencyStage? {
        do {
            let (stage, report) = try IdempotencyStage.start(config: config.idempotency, now: Clock.wallMillis())
            if let report {
                Log.info("idempotency journal: \(report.recordsLoaded) records read, \(report.entriesRestored) entries restored, "
                         + "\(report.bytesSkipped) bytes skipped")
                for problem in report.problems { Log.warn("idempotency journal: \(problem)") }
            }
            return stage
        } catch {
            throw SystemError("idempotency journal \(config.idempotency.journalPath ?? ""): \(error)", EIO)
        }
    }
}
