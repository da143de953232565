import CSystem
import GatewayCore
import Glibc

/// Starts one event loop per worker, each with its own SO_REUSEPORT listener so the kernel
/// spreads connections across loops and no loop ever waits on another.
public enum Server {
    public static func workerCount(_ configured: Int?) -> Int {
        configured ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Binds every listener first (so a bad address fails before anything runs), then runs the
    /// loops; never returns.
    public static func run(config: GatewayConfig) throws(SystemError) -> Never {
        csys_ignore_sigpipe()
        _ = csys_raise_nofile_limit()
        let idempotency = try startIdempotency(config)
        let pipeline = RequestPipeline(config: config, idempotency: idempotency)
        let workers = workerCount(config.workers)
        var listenersPerWorker: [[Int32]] = []
        for _ in 0..<workers {
            var fds: [Int32] = []
            for address in config.listen {
                guard let socketAddress = SocketAddress(host: address.host, port: address.port) else {
                    throw SystemError("resolve \(address.host)", EINVAL)
                }
                switch Socket.listen(on: socketAddress, reusePort: true) {
                case .success(let fd): fds.append(fd)
                case .failure(let error): throw error
                }
            }
            listenersPerWorker.append(fds)
        }
        let listenText = config.listen.map { "\($0.host):\($0.port)" }.joined(separator: ", ")
        Log.info("gateway listening on \(listenText) with \(workers) worker(s)")
        if let idempotency { JournalFlusher.start(idempotency) }
        for fds in listenersPerWorker.dropFirst() {
            Thread.start { runWorker(config: config, pipeline: pipeline, listeners: fds) }
        }
        runWorker(config: config, pipeline: pipeline, listeners: listenersPerWorker[0])
    }

    private static func runWorker(config: GatewayConfig, pipeline: RequestPipeline, listeners: [Int32]) -> Never {
        let worker = WorkerContext(config: config, pipeline: pipeline)
        for fd in listeners { _ = Listener(fd: fd, worker: worker) }
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
