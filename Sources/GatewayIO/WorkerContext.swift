import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids, metric block, access log buffer, and through it the upstream
/// pools), the listeners and the TLS context they hand new connections. Never touched by another
/// thread: other threads reach it through its mailbox.
final class WorkerContext {
    let loop: EventLoop
    /// The loop's newest configuration: new connections start on it, and connections move to it
    /// between requests (exchanges in flight finish on the environment they started with).
    private(set) var environment: ExchangeEnvironment
    private(set) var config: GatewayConfig
    /// What `ssl` listeners hand new connections; a reload replaces it for new connections only:
    /// each open one holds the context it started with.
    private(set) var serverTLS: TLSServerContext?
    var listeners: [Listener] = []
    let mailbox: LoopMailbox
    let shutdown: Shutdown
    private let observers: Observers
    /// This loop's place among `loops`, which decides the servers whose active checks it runs.
    private let index: Int
    private let loops: Int
    private(set) var draining = false
    private var reportedDrained = false
    /// This loop's client of the shared store; nil with `store local`. Made once: store settings
    /// need a restart, so every configuration the loop runs shares it.
    let store: LoopStore?

    /// The buffer size of the loops of a process started with `config`: one size for both sides,
    /// holding the largest head either side may send. A reload cannot grow it.
    static func bufferSize(for config: GatewayConfig) -> Int {
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(config.client.maxHeaderSize, max)
        return max(64 * 1024, largestHead + 1024)
    }

    init(config: GatewayConfig, addresses: ResolvedAddresses, tls: TLSContexts, pipeline: RequestPipeline,
         health: UpstreamHealthTable, index: Int, loops: Int, observers: Observers, mailbox: LoopMailbox,
         shutdown: Shutdown, engine: Poller.Engine, shared: SharedStore?) throws(SystemError) {
        let loop = try EventLoop(bufferSize: Self.bufferSize(for: config), engine: engine)
        store = shared.map { LoopStore(loop: loop, settings: config.store, endpoint: $0.endpoint, seed: $0.address, tls: $0.tls, stats: $0.stats) }
        self.loop = loop
        self.config = config
        self.index = index
        self.loops = loops
        self.observers = observers
        self.mailbox = mailbox
        self.shutdown = shutdown
        serverTLS = tls.server
        environment = Self.environment(config, addresses, tls, pipeline, health, loop: loop, observers: observers,
                                       share: index, of: loops, store: store)
    }

    /// `config` as this loop runs it: balancers over the process's shared health objects (in the
    /// pipeline's group order), pools (with their TLS contexts), a metric block and access log
    /// buffer labelled for it, and the active checks of the servers dealt to this loop.
    private static func environment(_ config: GatewayConfig, _ addresses: ResolvedAddresses, _ tls: TLSContexts,
                                    _ pipeline: RequestPipeline, _ health: UpstreamHealthTable, loop: EventLoop,
                                    observers: Observers, share: Int, of loops: Int, store: LoopStore?) -> ExchangeEnvironment {
        let balancers = health.groups.map { UpstreamBalancer(health: $0) }
        let layout = MetricsLayout(pipeline: pipeline, balancers: balancers)
        let metrics = observers.registry?.makeLoopMetrics(layout)
        let accessLog = observers.accessLog.map {
            LoopAccessLog(writer: $0, loop: loop, encoder: AccessLogEncoder(format: observers.accessLogFormat, layout: layout))
        }
        let pools = balancers.enumerated().map { group, balancer in
            UpstreamPool(group: group, balancer: balancer, addresses: addresses.servers[balancer.config.name, default: []].map(\.address),
                         metrics: metrics, tls: tls.upstreams[balancer.config.name])
        }
        let generation = LoopGeneration(pools: pools, metrics: metrics, registry: observers.registry, accessLog: accessLog,
                                        healthCheckers: HealthChecker.start(for: pools, on: loop, share: share, of: loops))
        return ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers, ioResources: generation,
                                   seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                   log: { level, message in level == .info ? Log.info(message) : Log.warn(message) },
                                   metrics: metrics, accessLog: accessLog, clock: loop.clock, storeLink: store)
    }

    /// The I/O side of `environment` (its pools, metric block, checks).
    static func generation(of environment: ExchangeEnvironment) -> LoopGeneration {
        unsafeDowncast(environment.ioResources.unsafelyUnwrapped, to: LoopGeneration.self)
    }

    func clientClosed() {
        if draining { reportIfDrained() }
    }

    // MARK: Commands from other threads

    /// Switches to a new configuration between events: new connections and new requests use it.
    func apply(_ reload: LoopReload) {
        let newer = Self.environment(reload.config, reload.addresses, reload.tls, reload.pipeline, reload.health, loop: loop,
                                     observers: observers, share: index, of: loops, store: store)
        Self.generation(of: environment).handOver(to: Self.generation(of: newer))
        environment.supersede(by: newer)
        environment = newer
        config = reload.config
        // New certificates and TLS settings: for connections accepted from now on.
        serverTLS = reload.tls.server
        for address in reload.closed {
            listeners.removeAll { listener in
                guard listener.address == address else { return false }
                listener.close()
                return true
            }
        }
        // A listener that stays may have gained or lost `ssl`: the same socket, new connections change.
        for listener in listeners {
            if let entry = reload.addresses.listen.first(where: { $0.address == listener.address }) { listener.ssl = entry.ssl }
        }
        for (address, fd) in reload.opened {
            // A reload that was under way when the drain began must not start accepting again.
            if draining {
                loop.close(fd)
                continue
            }
            let ssl = reload.addresses.listen.first { $0.address == address }?.ssl ?? false
            listeners.append(Listener(fd: fd, address: address, worker: self, ssl: ssl))
        }
        // Idle connections let go of the old configuration now, not at their next request.
        for connection in loop.handlers(of: ClientConnection.self) { connection.adoptNewestEnvironment() }
    }

    /// Stops accepting (a last accept takes what is already queued), and lets every connection
    /// finish what it has: answers go out with `Connection: close`, idle connections close.
    func beginDraining() {
        draining = true
        for listener in listeners { listener.close() }
        listeners = []
        for connection in loop.handlers(of: ClientConnection.self) { connection.drain() }
        reportIfDrained()
    }

    private func reportIfDrained() {
        guard loop.openConnections == 0, !reportedDrained else { return }
        reportedDrained = true
        Self.generation(of: environment).flushAccessLog()
        shutdown.loopDrained()
    }
}
