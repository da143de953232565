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
    public static func run(config: consuming GatewayConfig, addresses: consuming ResolvedAddresses,
                           tls: TLSContexts) throws(SystemError) -> Never {
        // Set up in a function of its own: what it holds is let go when it returns, so after a
        // reload nothing keeps the first configuration and its pipeline alive.
        let first = try start(config: config, addresses: addresses, tls: tls)
        _ = consume config
        _ = consume addresses
        first.loop.run()
    }

    /// Starts every worker but the first (on the main thread), which is returned ready to run.
    private static func start(config: GatewayConfig, addresses: ResolvedAddresses, tls: TLSContexts) throws(SystemError)
        -> WorkerContext {
        csys_ignore_sigpipe()
        // Before any thread exists, so that every thread blocks them and only the first loop reads them.
        let hangup = SignalWatch.block(SIGHUP, name: "SIGHUP")
        let stops = [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")].compactMap { signal, name in
            SignalWatch.block(signal, name: name).map { (fd: $0, name: name) }
        }
        _ = csys_raise_nofile_limit()
        let workers = workerCount(config.workers)
        let (engine, engineLine) = try Poller.choose(config.ioEngine).get()
        let listenersPerWorker = try ListenSockets.open(addresses.listen, workers: workers)
        let observers = try Observers(config: config, addresses: addresses)
        let shared: SharedStore?
        do {
            shared = try SharedStore.make(config, addresses, loops: workers)
        } catch {
            throw SystemError("store: \(error)", EINVAL)
        }
        let idempotency = try startIdempotency(config)
        let pipeline = RequestPipeline(config: config, idempotency: idempotency)
        let health = addresses.upstreamHealth(config, order: pipeline.upstreamNames)
        var mailboxes: [LoopMailbox] = []
        for _ in 0..<workers { mailboxes.append(try LoopMailbox()) }
        let shutdown = Shutdown(mailboxes: mailboxes, status: observers.status, idempotency: idempotency,
                                accessLog: observers.accessLog, pidFile: config.pidFile)
        // Every loop is made here, so running out of descriptors is an error before anything is served.
        var contexts: [Handoff] = []
        for (index, mailbox) in mailboxes.enumerated() {
            contexts.append(Handoff(try WorkerContext(config: config, addresses: addresses, tls: tls, pipeline: pipeline,
                                                      health: health, index: index, loops: workers, observers: observers,
                                                      mailbox: mailbox, shutdown: shutdown, engine: engine, shared: shared)))
        }
        try observers.start(idempotency: shared == nil ? idempotency?.store : nil, store: shared?.stats, health: health,
                            vocabulary: config.errors.vocabulary)
        observers.status.configLoaded()
        let running = RunningConfiguration(config: config, addresses: addresses, pipeline: pipeline, health: health,
                                           idempotency: idempotency, workers: workers, bufferSize: WorkerContext.bufferSize(for: config))
        let reloader = Reloader(running, mailboxes: mailboxes, observers: observers)
        if let idempotency { try JournalFlusher.start(idempotency) }
        let listen = addresses.listen
        for index in 1..<workers {
            let (context, fds) = (contexts[index], listenersPerWorker[index])
            try Thread.start {
                prepare(context.worker, listen: listen, fds: fds)
                context.worker.loop.run()
            }
        }
        let first = contexts[0].worker
        prepare(first, listen: listen, fds: listenersPerWorker[0])
        // The first worker also reads the signals.
        let drainTimer = DrainTimer(loop: first.loop, shutdown: shutdown)
        if let hangup { _ = SignalWatch(fd: hangup, loop: first.loop) { reloader.request() } }
        for stop in stops {
            _ = SignalWatch(fd: stop.fd, loop: first.loop) {
                shutdown.signalled(stop.name, timeoutMs: first.config.shutdownTimeoutMs)
                drainTimer.start(first.config.shutdownTimeoutMs)
            }
        }
        // Last, so that a pid file is only ever left by a gateway that started.
        if let path = config.pidFile { try PidFile.write(path) }
        observers.status.markListening()
        var listenText = addresses.listen.map { $0.address.description + ($0.ssl ? " (ssl)" : "") }.joined(separator: ", ")
        if let admin = addresses.admin { listenText += " (admin \(admin))" }
        Log.info("gateway listening on \(listenText) with \(workers) worker(s); \(engineLine)"
                 + (shared.map { "; shared store \($0.endpoint.label)" } ?? ""))
        return first
    }

    /// A worker's context on its way to its own thread, which is the only one to touch it afterwards.
    private final class Handoff: @unchecked Sendable {
        let worker: WorkerContext
        init(_ worker: WorkerContext) { self.worker = worker }
    }

    /// Registers the worker's listeners (`listen`: the address and `ssl` of each of `fds`), mailbox and trimmer.
    private static func prepare(_ worker: WorkerContext, listen: [ResolvedAddresses.Listen], fds: [Int32]) {
        for (entry, fd) in zip(listen, fds) {
            worker.listeners.append(Listener(fd: fd, address: entry.address, worker: worker, ssl: entry.ssl))
        }
        _ = MailboxReader(worker.mailbox, worker: worker)
        _ = MemoryTrimmer(worker: worker)
    }

    /// Restores the idempotency journal (reporting what was skipped) before any request is served.
    /// With a shared store the entries live there: no journal is opened.
    private static func startIdempotency(_ config: GatewayConfig) throws(SystemError) -> IdempotencyStage? {
        var settings = config.idempotency
        if case .redis = config.store.backend, let path = settings.journalPath {
            Log.warn("idempotency journal \(path) is not used: with 'store redis' the entries live in Redis")
            settings.journalPath = nil
        }
        do {
            let (stage, report) = try IdempotencyStage.start(config: settings, now: Clock.wallMillis())
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
