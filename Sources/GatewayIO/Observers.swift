import CSystem
import GatewayCore
import Glibc
import Synchronization

/// What watches the gateway: its status (listening, configuration generation, reloads, draining),
/// the metric registry the loops count into (only with an admin listener: nothing else reads it),
/// the access log writer, and the admin listener that serves them.
///
/// Hooks for the code that reloads and drains: report through `status` (`reloadSucceeded`,
/// `reloadFailed`, `beginDraining`, which turns /readyz to 503); a loop switching to a new
/// configuration takes a new block from `registry` (`MetricsLayout(pipeline:balancers:)`) and
/// retires its old one once no exchange uses it, so counters carry on by label.
final class Observers: Sendable {
    let status: GatewayStatus
    let registry: MetricsRegistry?
    let accessLog: AccessLogWriter?
    let accessLogFormat: AccessLogConfig.Format
    private let adminSocket: Int32
    private let reopenSignal: Int32
    /// Set once the admin listener runs; a reload hands it its upstream groups.
    private let endpoints = Mutex<AdminEndpoints?>(nil)

    /// On the main thread before any other starts (SIGUSR1 is blocked for every thread and read
    /// from a signalfd); binds the admin address and opens the access log, so either failing
    /// stops the start before anything is served.
    init(config: GatewayConfig, addresses: ResolvedAddresses) throws(SystemError) {
        status = GatewayStatus(startedAtWallMillis: Clock.wallMillis())
        accessLogFormat = config.accessLog.format
        if config.accessLog.isOn {
            reopenSignal = csys_signal_fd(SIGUSR1)
            if reopenSignal < 0 { Log.warn("signalfd(SIGUSR1): \(String(cString: strerror(csys_errno()))); SIGUSR1 will not reopen the access log") }
            accessLog = try AccessLogWriter(destination: config.accessLog.destination, stats: AccessLogStats())
        } else {
            // Nothing to reopen; SIGUSR1 from a logrotate script must not kill the gateway.
            reopenSignal = -1
            signal(SIGUSR1, SIG_IGN)
            accessLog = nil
        }
        if let address = addresses.admin {
            adminSocket = try AdminServer.bind(address)
            registry = MetricsRegistry()
        } else {
            adminSocket = -1
            registry = nil
        }
    }

    /// Once the loops are made (their blocks registered): the writer's and the admin listener's threads.
    func start(idempotency: IdempotencyStore?, store: StoreStats?, health: UpstreamHealthTable, vocabulary: ErrorVocabulary) throws(SystemError) {
        try accessLog?.start(reopenSignal: reopenSignal)
        if let registry {
            let endpoints = AdminEndpoints(registry: registry, status: status, health: health,
                                           idempotency: idempotency, store: store, accessLog: accessLog?.stats, vocabulary: vocabulary)
            try AdminServer(fd: adminSocket, endpoints: endpoints).start()
            self.endpoints.withLock { $0 = endpoints }
        }
    }

    /// A reload's health table: what `/metrics` and `/readyz` report from now on.
    func healthChanged(_ health: UpstreamHealthTable) {
        endpoints.withLock { $0 }?.replaceHealth(health)
    }
}
