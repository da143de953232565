import GatewayCore
import Glibc
import Synchronization

/// Configuration reloads (SIGHUP, `gateway --reload`), on a thread of their own: reading the
/// files (a million keys take about 1.5 s), resolving names and binding new listen addresses never
/// holds up a loop. A configuration that fails any step is logged with its file:line:col and
/// changes nothing; one that passes is posted to every loop, which switches between events.
/// Requests for a reload while one runs are merged into one more reload after it.
///
/// The thread is started for a reload and ends with it: a one-worker gateway that is never
/// reloaded stays single-threaded, and glibc's syscall wrappers skip their cancellation
/// bookkeeping (about 300 instructions a request) only in a single-threaded process.
final class Reloader: Sendable {
    private let mailboxes: [LoopMailbox]
    private let observers: Observers
    /// Whether a reload thread runs, and whether another reload was asked for meanwhile; taken
    /// briefly by the first loop and the reload thread, never on a request's path.
    private let state = Mutex<(running: Bool, again: Bool)>((false, false))
    /// Held by the reload thread for the whole reload; no other thread ever waits for it.
    private let running: Mutex<RunningConfiguration>

    /// `running`: what the loops were started with.
    init(_ running: RunningConfiguration, mailboxes: [LoopMailbox], observers: Observers) {
        self.running = Mutex(running)
        self.mailboxes = mailboxes
        self.observers = observers
    }

    /// From the loop that read SIGHUP.
    func request() {
        let start = state.withLock { state -> Bool in
            if state.running {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        do {
            try Thread.start { self.reloadUntilNoneIsAsked() }
        } catch {
            Log.error("reload: cannot start its thread: \(error)")
            state.withLock { $0 = (false, false) }
        }
    }

    private func reloadUntilNoneIsAsked() {
        repeat {
            if !observers.status.isDraining { running.withLock { $0.reload(mailboxes: mailboxes, observers: observers) } }
        } while state.withLock { state -> Bool in
            if state.again {
                state.again = false
                return true
            }
            state.running = false
            return false
        }
    }
}

/// The configuration the loops run, as the reload threads know it: what a new one is checked
/// against and carries its state over from. Kept in the reloader's lock, which one reload at a
/// time holds.
struct RunningConfiguration: Sendable {
    var config: GatewayConfig
    var addresses: ResolvedAddresses
    var pipeline: RequestPipeline
    var health: UpstreamHealthTable
    /// The same store across reloads: entries are keyed by key digest, not by position.
    let idempotency: IdempotencyStage?
    let workers: Int
    /// Buffers are sized at start; a configuration needing larger ones needs a restart.
    let bufferSize: Int

    /// One reload: on success the loops have been told and `self` is the new configuration.
    mutating func reload(mailboxes: [LoopMailbox], observers: Observers) {
        let path = config.sourceFile
        do throws(ReloadError) {
            var (next, addresses, tls) = try load(path)
            let added = addresses.listen.filter { new in !self.addresses.listen.contains { $0.address == new.address } }
            let removed = self.addresses.listen.map(\.address).filter { old in !addresses.listen.contains { $0.address == old } }
            // Bound here, off the loops, so an address that cannot be taken fails the reload before anything changed.
            let opened: [[Int32]]
            do {
                opened = try ListenSockets.open(added, workers: workers)
            } catch {
                throw ReloadError("\(error)")
            }
            // Each loop's store client was made for the running settings: they stay until a restart.
            if next.store != config.store {
                Log.warn("reload: 'store' or a 'store_*' directive changed; the shared store keeps its settings until a restart")
                next.store = config.store
            }
            let pipeline = RequestPipeline(config: next, idempotency: idempotency, replacing: self.pipeline)
            // The same keys with their state owners: the configuration kept shares the pipeline's
            // copy rather than holding a second one (32 MB of entries for a million keys).
            next.access.keys = pipeline.policies.keys
            // Servers that stay keep their shared health: an ejected or failing one stays out.
            let health = addresses.upstreamHealth(next, order: pipeline.upstreamNames, previous: self.health)
            for (index, mailbox) in mailboxes.enumerated() {
                let sockets = zip(added, opened[index]).map { (address: $0.address, fd: $1) }
                mailbox.post(.reload(LoopReload(config: next, addresses: addresses, pipeline: pipeline, health: health, tls: tls,
                                                opened: sockets, closed: removed)))
            }
            observers.healthChanged(health)
            warnAboutRestartOnlyChanges(next)
            config = next
            self.addresses = addresses
            self.pipeline = pipeline
            self.health = health
            observers.status.reloadSucceeded()
            let generation = observers.status.configGeneration
            var summary = "configuration reloaded from \(path) (generation \(generation)): \(next.access.keys.count) key(s), "
                + "\(next.routes.count) route(s)"
            if !added.isEmpty { summary += "; listening on \(added.map(\.address.description).joined(separator: ", "))" }
            if !removed.isEmpty { summary += "; no longer on \(removed.map(\.description).joined(separator: ", "))" }
            Log.info(summary)
        } catch {
            observers.status.reloadFailed()
            Log.error("reload failed, still running generation \(observers.status.configGeneration): \(error)")
        }
    }

    /// Reads, validates and resolves the file, loads its certificates and keys, and checks it
    /// against what a running process can change.
    private func load(_ path: String) throws(ReloadError) -> (GatewayConfig, ResolvedAddresses, TLSContexts) {
        let next: GatewayConfig
        let addresses: ResolvedAddresses
        let tls: TLSContexts
        do {
            next = try GatewayConfig.load(path: path)
            addresses = try ResolvedAddresses.resolve(next)
            tls = try TLSContexts.load(next)
        } catch {
            throw ReloadError("\(error)")
        }
        for warning in next.access.warnings { Log.warn(warning) }
        let needed = WorkerContext.bufferSize(for: next)
        if needed > bufferSize {
            throw ReloadError("max_header_size and max_response_header need \(needed)-byte buffers; this process runs with "
                              + "\(bufferSize)-byte buffers: restart to apply them")
        }
        return (next, addresses, tls)
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
        // The writer, the SIGUSR1 reopen and the admin socket are set up once, at start.
        if next.accessLog != config.accessLog {
            Log.warn("reload: 'access_log' changed; the access log keeps its destination and format until a restart")
        }
        if next.adminListen != config.adminListen {
            Log.warn("reload: 'admin_listen' changed; the admin listener stays where it is until a restart")
        }
        if next.ioEngine != config.ioEngine {
            Log.warn("reload: 'io_engine' changed; the loops keep the engine they started on until a restart")
        }
    }
}

struct ReloadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
