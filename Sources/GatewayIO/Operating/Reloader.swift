import GatewayCore
import Glibc

/// Configuration reloads (SIGHUP, `gateway --reload`), on a thread of their own: reading the
/// files (a million keys take a second), resolving names and binding new listen addresses never
/// holds up a loop. A configuration that fails any step is logged with its file:line:col and
/// changes nothing; one that passes is posted to every loop, which switches between events.
/// Requests for a reload while one runs are merged into one more reload after it.
final class Reloader: Sendable {
    private let wake: (read: Int32, write: Int32)

    /// Starts the thread; `running` is what the loops were started with.
    static func start(_ running: RunningConfiguration, mailboxes: [LoopMailbox], lifecycle: Lifecycle) throws(SystemError) -> Reloader {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError("pipe", errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // The loop that asks must never block, however many requests pile up.
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        let reloader = Reloader(wake: (fds[0], fds[1]))
        try Thread.start {
            var running = running
            while reloader.waitForRequest() {
                if lifecycle.isDraining { continue }
                running.reload(mailboxes: mailboxes, lifecycle: lifecycle)
            }
        }
        return reloader
    }

    private init(wake: (read: Int32, write: Int32)) {
        self.wake = wake
    }

    /// From the loop that read SIGHUP.
    func request() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// Blocks until a reload is asked for; every request pending by then is served by one reload.
    private func waitForRequest() -> Bool {
        var bytes = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(wake.read, &bytes, bytes.count)
            if n > 0 { return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }
}

/// The configuration the loops run, as the reload thread knows it: what a new one is checked
/// against and carries its state over from. Only the reload thread touches it after start.
struct RunningConfiguration: Sendable {
    var config: GatewayConfig
    var addresses: ResolvedAddresses
    var pipeline: RequestPipeline
    /// The same store across reloads: entries are keyed by key digest, not by position.
    let idempotency: IdempotencyStage?
    let workers: Int
    /// Buffers are sized at start; a configuration needing larger ones needs a restart.
    let bufferSize: Int

    /// One reload: on success the loops have been told and `self` is the new configuration.
    mutating func reload(mailboxes: [LoopMailbox], lifecycle: Lifecycle) {
        let path = config.sourceFile
        do throws(ReloadError) {
            let (next, addresses) = try load(path)
            let added = addresses.listen.filter { new in !self.addresses.listen.contains { $0.address == new.address } }
            let removed = self.addresses.listen.map(\.address).filter { old in !addresses.listen.contains { $0.address == old } }
            // Bound here, off the loops, so an address that cannot be taken fails the reload before anything changed.
            let opened: [[Int32]]
            do {
                opened = try ListenSockets.open(added, workers: workers)
            } catch {
                throw ReloadError("\(error)")
            }
            // TLS: certificates are loaded and checked here, with the rest of the configuration.
            let pipeline = RequestPipeline(config: next, idempotency: idempotency, replacing: self.pipeline)
            for (index, mailbox) in mailboxes.enumerated() {
                let sockets = zip(added, opened[index]).map { (address: $0.address, fd: $1) }
                mailbox.post(.reload(LoopReload(config: next, addresses: addresses, pipeline: pipeline, opened: sockets, closed: removed)))
            }
            warnAboutRestartOnlyChanges(next)
            config = next
            self.addresses = addresses
            self.pipeline = pipeline
            let generation = lifecycle.reloadSucceeded()
            var summary = "configuration reloaded from \(path) (generation \(generation)): \(next.access.keys.count) key(s), "
                + "\(next.routes.count) route(s)"
            if !added.isEmpty { summary += "; listening on \(added.map(\.address.description).joined(separator: ", "))" }
            if !removed.isEmpty { summary += "; no longer on \(removed.map(\.description).joined(separator: ", "))" }
            Log.info(summary)
        } catch {
            lifecycle.reloadFailed()
            Log.error("reload failed, still running generation \(lifecycle.configGeneration): \(error)")
        }
    }

    /// Reads, validates and resolves the file, and checks it against what a running process can change.
    private func load(_ path: String) throws(ReloadError) -> (GatewayConfig, ResolvedAddresses) {
        let next: GatewayConfig
        let addresses: ResolvedAddresses
        do {
            next = try GatewayConfig.load(path: path)
            addresses = try ResolvedAddresses.resolve(next)
        } catch {
            throw ReloadError("\(error)")
        }
        for warning in next.access.warnings { Log.warn(warning) }
        let needed = WorkerContext.bufferSize(for: next)
        if needed > bufferSize {
            throw ReloadError("max_header_size and max_response_header need \(needed)-byte buffers; this process runs with "
                              + "\(bufferSize)-byte buffers: restart to apply them")
        }
        return (next, addresses)
    }

    private func warnAboutRestartOnlyChanges(_ next: GatewayConfig) {
        if Server.workerCount(next.workers) != workers {
            Log.warn("reload: 'workers' changed to \(Server.workerCount(next.workers)); changing the number of workers needs a restart, "
                     + "keeping \(workers)")
        }
        if next.idempotency != config.idempotency {
            Log.warn("reload: 'idempotency { }' changed; the store and its journal keep their settings until a restart")
        }
        if next.pidFile != config.pidFile {
            Log.warn("reload: 'pid' changed; the pid file stays \(config.pidFile ?? "off") until a restart")
        }
    }
}

struct ReloadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
