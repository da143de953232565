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
    public static func run(config: GatewayConfig, addresses: ResolvedAddresses, tls: TLSContexts) throws(SystemError) -> Never {
        csys_ignore_sigpipe()
        let hangup = HangupSignal.block()
        _ = csys_raise_nofile_limit()
        let workers = workerCount(config.workers)
        let (engine, engineLine) = try Poller.choose(config.ioEngine).get()
        let listenersPerWorker = try ListenSockets.open(addresses.listen, workers: workers)
        let observers = try Observers(config: config, addresses: addresses)
        let idempotency = try startIdempotency(config)
        let pipeline = RequestPipeline(config: config, idempotency: idempotency)
        let health = addresses.upstreamHealth(config, order: pipeline.upstreamNames)
        // Every loop is made here, so running out of descriptors is an error before anything is served.
        var contexts: [Handoff] = []
        for index in 0..<workers {
            contexts.append(Handoff(try WorkerContext(config: config, addresses: addresses, tls: tls, pipeline: pipeline,
                                                      health: health, index: index, loops: workers, observers: observers, engine: engine)))
        }
        try observers.start(idempotency: idempotency?.store, health: health, vocabulary: config.errors.vocabulary)
        observers.status.configLoaded()
        observers.status.markListening()
        var listenText = addresses.listen.map { $0.address.description + ($0.ssl ? " (ssl)" : "") }.joined(separator: ", ")
        if let admin = addresses.admin { listenText += " (admin \(admin))" }
        Log.info("gateway listening on \(listenText) with \(workers) worker(s); \(engineLine)")
        if let idempotency { try JournalFlusher.start(idempotency) }
        let ssl = addresses.listen.map(\.ssl)
        for index in 1..<workers {
            let (context, fds) = (contexts[index], listenersPerWorker[index])
            try Thread.start { runWorker(context.worker, listeners: fds, ssl: ssl) }
        }
        runWorker(contexts[0].worker, listeners: listenersPerWorker[0], ssl: ssl, hangup: hangup)
    }

    /// A worker's context on its way to its own thread, which is the only one to touch it afterwards.
    private final class Handoff: @unchecked Sendable {
        let worker: WorkerContext
        init(_ worker: WorkerContext) { self.worker = worker }
    }

    /// The first worker (on the main thread) also hears SIGHUP.
    /// `ssl` says, by position, which of `listeners` are TLS listeners.
    private static func runWorker(_ worker: WorkerContext, listeners: [Int32], ssl: [Bool], hangup: Int32 = -1) -> Never {
        for (fd, ssl) in zip(listeners, ssl) { _ = Listener(fd: fd, worker: worker, ssl: ssl) }
        _ = MemoryTrimmer(worker: worker)
        _ = HangupSignal(fd: hangup, loop: worker.loop)
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
