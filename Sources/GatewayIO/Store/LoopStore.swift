import GatewayCore
import Glibc

/// One event loop's client of the shared Redis store: the `StoreLink` its requests' stages send
/// through. It keeps a few pipelined connections per Redis node (`store_connections`), routes
/// each command by its cluster slot (following `MOVED` and `ASK`, and refreshing the slot map
/// with `CLUSTER SLOTS`), resends a script call as `EVAL` to a server that lost the script, and
/// hands each reply to the stage that waits for it on this same thread, resuming the request
/// through its client connection, unless that request is gone (its stage then undoes what the
/// command took). Every command gets an answer within `store_command_timeout`: its reply, or
/// "unavailable" when the connection times out or breaks, the queue is full or the breaker is open.
/// With `store_sync local_burst`, it also holds the loop's `LocalAllowance`, and sends what quiet
/// keys still owe when their credit expires.
final class LoopStore: StoreLink, EventHandler, DeferredStep {
    let loop: EventLoop
    let settings: StoreConfig
    let endpoint: RedisEndpoint
    let tls: TLSClientContext?
    let leases = LeaseBook()
    /// With `store_sync local_burst=N`.
    let allowance: LocalAllowance?
    private(set) var isCluster = false
    private let stats: StoreStats
    private var breaker: StoreBreaker
    private var nodes: [Node]
    /// Each slot's node index once `CLUSTER SLOTS` has answered (cluster mode); -1: unknown.
    private var slotMap: [Int] = []
    private var topologyAskedAt: UInt64 = 0
    /// Failures to report at the end of the iteration: a stage (or another request's drive) may
    /// still be on the stack, and must not hear them re-entrantly.
    private var failLater: [(command: StorePending, reason: String, result: StoreStats.Result)] = []
    private var dirty: [RedisConnection] = []
    private var deferredScheduled = false
    var deadline: UInt64 = 0
    var timer = TimerLink()

    private struct Node {
        let address: SocketAddress
        let host: String
        var connections: [RedisConnection] = []
        var next = 0
    }

    /// Renewals are looked at this often; each lease is renewed every third of its length.
    private static let leaseTickMs: UInt64 = 250

    init(loop: EventLoop, settings: StoreConfig, endpoint: RedisEndpoint, seed: SocketAddress, tls: TLSClientContext?, stats: StoreStats) {
        self.loop = loop
        self.settings = settings
        self.endpoint = endpoint
        self.tls = tls
        self.stats = stats
        breaker = StoreBreaker(maxIntervalMs: UInt64(settings.retryIntervalMs))
        allowance = settings.localBurst > 0 ? LocalAllowance(burst: settings.localBurst) : nil
        nodes = [Node(address: seed, host: endpoint.host)]
        // Connect now, so the first requests do not wait for the connect.
        _ = connection(node: 0)
        schedule()
    }

    // MARK: StoreLink

    func send(_ command: RESPCommand, slot: Int, for stage: any StoreStage, context: RequestContext, undo: [UInt8]) {
        guard let waiter = context.waiter as? StoreWaiting else {
            return stage.storeAbandoned(.unavailable("no connection waits"), undo: undo, link: self)
        }
        let request = StoreRequest(stage: stage, context: context, waiter: waiter, stamp: waiter.beginStoreWait(), undo: undo)
        dispatch(pending(.request(request), command, slot))
    }

    func post(_ command: RESPCommand, slot: Int) {
        dispatch(pending(.posted, command, slot))
    }

    private func pending(_ purpose: StorePending.Purpose, _ command: RESPCommand, _ slot: Int) -> StorePending {
        assert(command.isComplete, "a command with fewer arguments than it announced")
        return StorePending(purpose: purpose, command: command.bytes, slot: slot, deadline: loop.now + UInt64(settings.commandTimeoutMs),
                     queuedAtMicros: loop.clock.micros)
    }

    // MARK: Sending

    private func dispatch(_ command: StorePending, to node: Int? = nil) {
        guard breaker.allowsCommands else { return fail(command, "the store is unavailable (reconnecting)") }
        guard let connection = connection(node: node ?? self.node(for: command.slot)) else {
            return fail(command, "the store is unavailable (cannot connect)")
        }
        guard connection.queued < settings.queue else { return fail(command, "the store queue is full (\(settings.queue) commands)") }
        connection.enqueue(command)
        if !dirty.contains(where: { $0 === connection }) { dirty.append(connection) }
        atEndOfIteration()
    }

    private func node(for slot: Int) -> Int {
        guard isCluster, slot < slotMap.count, slotMap[slot] >= 0 else { return 0 }
        return slotMap[slot]
    }

    /// A connection to `node` that is not closed, opened if needed (round robin over `store_connections`).
    private func connection(node index: Int) -> RedisConnection? {
        nodes[index].connections.removeAll { $0.state == .closed }
        if nodes[index].connections.count < settings.connections {
            switch RedisConnection.open(to: nodes[index].address, host: nodes[index].host, node: index, store: self) {
            case .success(let connection): nodes[index].connections.append(connection)
            case .failure(let error):
                breakerFailed("connect to \(nodes[index].address): \(error)")
                return nil
            }
        }
        let connections = nodes[index].connections
        nodes[index].next = (nodes[index].next + 1) % connections.count
        return connections[nodes[index].next]
    }

    private func fail(_ command: StorePending, _ reason: String, _ result: StoreStats.Result = .unavailable) {
        failLater.append((command, reason, result))
        atEndOfIteration()
    }

    private func atEndOfIteration() {
        if deferredScheduled { return }
        deferredScheduled = true
        loop.atEndOfIteration(self)
    }

    /// At the end of the loop's iteration: writes what it queued (one write per connection however
    /// many commands), then reports the failures noted meanwhile.
    func runDeferred() {
        deferredScheduled = false
        let connections = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in connections { connection.flush() }
        let failures = failLater
        failLater.removeAll(keepingCapacity: true)
        for (command, reason, result) in failures {
            stats.count(result)
            if case .topology = command.purpose { topologyAskedAt = 0 }
            deliver(command, .unavailable(reason))
        }
    }

    // MARK: Replies

    /// A reply from `connection`, in order: redirections and lost scripts are sent again; anything
    /// else goes to whoever waits.
    func replied(_ command: StorePending, _ reply: RESPValue) {
        if let redirect = ClusterTopology.redirect(reply), command.redirects < 5 {
            return follow(redirect, command)
        }
        if reply.isError("NOSCRIPT"), let eval = StoreScripts.eval(replacing: command.command) {
            var again = command
            again.command = eval
            return dispatch(again)
        }
        stats.count(.replied)
        stats.observe(micros: loop.clock.micros &- command.queuedAtMicros)
        if case .topology = command.purpose { return topology(reply) }
        deliver(command, .value(reply))
    }

    private func deliver(_ command: StorePending, _ reply: StoreReply) {
        if case .settlement(let prefix, let units) = command.purpose {
            allowance?.ended(prefix, units: units)
            return
        }
        guard case .request(let request) = command.purpose else { return }
        if request.waiter.isWaiting(request.stamp) {
            request.waiter.storeAnswered(request.stage.storeReplied(reply, context: request.context))
        } else {
            request.stage.storeAbandoned(reply, undo: request.undo, link: self)
        }
    }

    private func follow(_ redirect: ClusterTopology.Redirect, _ command: StorePending) {
        var again = command
        again.redirects += 1
        guard let node = nodeIndex(redirect.node) else { return fail(command, "redirected to \(redirect.node.host), not an address") }
        if redirect.ask {
            // ASKING makes the target serve the one command that follows it on the same connection.
            guard let connection = connection(node: node) else { return fail(command, "the store is unavailable") }
            connection.enqueue(pending(.asking, RESPCommand(["ASKING"]), redirect.slot))
            connection.enqueue(again)
            if !dirty.contains(where: { $0 === connection }) { dirty.append(connection) }
            return atEndOfIteration()
        }
        isCluster = true
        if slotMap.isEmpty { slotMap = [Int](repeating: -1, count: ClusterSlot.count) }
        slotMap[redirect.slot] = node
        refreshTopology()
        dispatch(again, to: node)
    }

    /// Asks for the slot map, at most once a second.
    private func refreshTopology() {
        guard loop.now >= topologyAskedAt + 1000 || topologyAskedAt == 0 else { return }
        topologyAskedAt = loop.now
        dispatch(pending(.topology, RESPCommand(["CLUSTER", "SLOTS"]), 0))
    }

    private func topology(_ reply: RESPValue) {
        guard let map = ClusterTopology.slotMap(reply) else { return }
        isCluster = true
        slotMap = map.map { node in node.flatMap(nodeIndex) ?? -1 }
    }

    /// The index of a cluster node (added on first sight); nil for a host that is not an address.
    private func nodeIndex(_ node: ClusterTopology.Node) -> Int? {
        guard let address = Resolver.numeric(host: node.host, port: node.port) else { return nil }
        if let index = nodes.firstIndex(where: { $0.address == address }) { return index }
        nodes.append(Node(address: address, host: node.host))
        return nodes.count - 1
    }

    // MARK: Connections coming and going

    func connectionReady(_ connection: RedisConnection) {
        if connection.node == 0 && topologyAskedAt == 0 { refreshTopology() }
        guard !breaker.allowsCommands else { return }
        breaker.succeeded()
        if let downMs = stats.loopCameUp(now: loop.now) {
            Log.info("store \(endpoint.label) is reachable again after \(downMs) ms; limits and idempotency use it again")
        }
        schedule()
    }

    func connectionFailed(_ connection: RedisConnection, reason: String, commands: [StorePending], timedOut: Bool) {
        breakerFailed(reason)
        for command in commands { fail(command, reason, timedOut ? .timeout : .unavailable) }
    }

    /// Opens the breaker (again) and closes every connection: their commands fail now, and new
    /// ones fail at once until a reconnection succeeds. Connections closed here report back too;
    /// an open breaker has counted that failure already.
    private func breakerFailed(_ reason: String) {
        if case .open = breaker.state { return }
        let wasClosed = breaker.allowsCommands
        breaker.failed(now: loop.now, jitter: Double.random(in: 0...1))
        if wasClosed {
            if stats.loopWentDown(now: loop.now) {
                let limits = settings.limitsFailOpen ? "let through unchecked" : "refused with 503"
                let idempotency = settings.idempotencyFailOpen ? "let through without their key" : "refused with 503"
                Log.warn("store \(endpoint.label) is unavailable: \(reason); until it is back, requests are \(limits) by the limits "
                         + "and \(idempotency) by Idempotency-Key; reconnecting with backoff up to \(settings.retryIntervalMs) ms")
            }
            for index in nodes.indices {
                let open = nodes[index].connections
                nodes[index].connections.removeAll()
                for connection in open where connection.state != .closed { connection.fail(reason) }
            }
        }
        schedule()
    }

    // MARK: Timer: reconnection, lease renewals and settlements

    func deadlineExpired() {
        if breaker.shouldProbe(now: loop.now) {
            // The one reconnection of a half-open breaker; its greeting closes the breaker.
            nodes[0].connections.removeAll()
            switch RedisConnection.open(to: nodes[0].address, host: nodes[0].host, node: 0, store: self) {
            case .success(let connection): nodes[0].connections.append(connection)
            case .failure(let error): breakerFailed("connect to \(nodes[0].address): \(error)")
            }
        }
        if breaker.allowsCommands {
            for (command, slot) in leases.renewals(now: loop.now) { post(command, slot: slot) }
        }
        // Even with the breaker open: a settlement that cannot be sent ends at once, and is dropped.
        for settlement in allowance?.sweep(now: loop.now) ?? [] {
            dispatch(pending(.settlement(prefix: settlement.prefix, units: settlement.units), settlement.command,
                             ClusterSlot.slot(settlement.prefix)))
        }
        schedule()
    }

    private func schedule() {
        var next = loop.now + Self.leaseTickMs
        if case .open(let retryAt) = breaker.state { next = min(next, max(retryAt, loop.now)) }
        deadline = next
        loop.deadlineChanged(self)
    }

    func handleEvent(_ flags: UInt32) {}
}
