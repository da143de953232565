import GatewayCore

/// Everything the connections of one event loop share: the loop, the exchange environment (filter
/// chain, limits, balancers, ids, and through it the upstream pools) and the listeners. Never
/// touched by another thread: other threads reach it through its mailbox.
final class WorkerContext {
    let loop: EventLoop
    /// The loop's newest configuration: new connections start on it, and connections move to it
    /// between requests (exchanges in flight finish on the environment they started with).
    private(set) var environment: ExchangeEnvironment
    private(set) var config: GatewayConfig
    var listeners: [Listener] = []
    let mailbox: LoopMailbox
    let shutdown: Shutdown
    /// Client connections open on this loop: a drain is over when none is left.
    private var openClients = 0
    private(set) var draining = false
    private var reportedDrained = false

    /// The buffer size of the loops of a process started with `config`: one size for both sides,
    /// holding the largest head either side may send. A reload cannot grow it.
    static func bufferSize(for config: GatewayConfig) -> Int {
        let largestHead = config.upstreams.values.map(\.maxResponseHeaderSize).reduce(config.client.maxHeaderSize, max)
        return max(64 * 1024, largestHead + 1024)
    }

    init(config: GatewayConfig, addresses: ResolvedAddresses, pipeline: RequestPipeline, mailbox: LoopMailbox,
         shutdown: Shutdown) throws(SystemError) {
        loop = try EventLoop(bufferSize: Self.bufferSize(for: config))
        self.config = config
        self.mailbox = mailbox
        self.shutdown = shutdown
        environment = Self.environment(config, addresses, pipeline)
    }

    /// The environment of `config` on this loop, with balancers and pools over its resolved servers.
    private static func environment(_ config: GatewayConfig, _ addresses: ResolvedAddresses,
                                    _ pipeline: RequestPipeline) -> ExchangeEnvironment {
        // Every address a server name resolved to is a server of its group, in the pipeline's group order.
        let resolved = pipeline.upstreamNames.map { addresses.servers[$0] ?? [] }
        let balancers = zip(pipeline.upstreamNames, resolved).map { name, servers in
            UpstreamBalancer(config: config.upstreams[name] ?? UpstreamConfig(name: name),
                             servers: servers.map { UpstreamBalancer.Member(config: $0.config, address: $0.address.description) })
        }
        let pools = zip(balancers, resolved).enumerated().map { UpstreamPool(group: $0, balancer: $1.0, addresses: $1.1.map(\.address)) }
        return ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers, ioResources: UpstreamPools(pools),
                                   seed: UInt64.random(in: .min ... .max), wallClock: Clock.wallMillis,
                                   log: { level, message in level == .info ? Log.info(message) : Log.warn(message) })
    }

    // MARK: Client connections

    func clientOpened() {
        openClients += 1
    }

    func clientClosed() {
        openClients -= 1
        if draining { reportIfDrained() }
    }

    // MARK: Commands from other threads

    /// Switches to a new configuration between events: new connections and new requests use it.
    func apply(_ reload: LoopReload) {
        let newer = Self.environment(reload.config, reload.addresses, reload.pipeline)
        (newer.ioResources as! UpstreamPools).takeOver(from: environment.ioResources as! UpstreamPools)
        environment.supersede(by: newer)
        environment = newer
        config = reload.config
        for address in reload.closed {
            listeners.removeAll { listener in
                guard listener.address == address else { return false }
                listener.close()
                return true
            }
        }
        // TLS: listeners kept across the reload take the new configuration's certificates here.
        for (address, fd) in reload.opened {
            // A reload that was under way when the drain began must not start accepting again.
            if draining { loop.close(fd) } else { listeners.append(Listener(fd: fd, address: address, worker: self)) }
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
        guard openClients == 0, !reportedDrained else { return }
        reportedDrained = true
        shutdown.loopDrained()
    }
}
