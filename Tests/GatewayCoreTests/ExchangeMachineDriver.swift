import XCTest
@testable import GatewayCore

/// Plays the I/O layer for an `ExchangeMachine`: no socket and no clock. The client and the
/// upstream servers are byte scripts; time moves only when a test says so. Every action the
/// machine asks for is performed at once and logged, so tests can assert both what the peers
/// received and the order of the I/O.
final class MachineDriver {
    /// One upstream connection the driver made (or lent from its pool).
    final class Upstream {
        let link: UpstreamLink
        /// What the server received on this connection.
        var received: [UInt8] = []
        /// Bytes the server has sent and the machine has not read yet.
        var pending: [UInt8] = []
        var eofAfterPending = false
        /// The server closed it while idle, unnoticed: the next bytes sent meet EOF.
        var deadOnNextSend = false
        var closed = false
        var released = false

        init(link: UpstreamLink) { self.link = link }

        var receivedText: String { String(decoding: received, as: UTF8.self) }
    }

    /// How the next connect to a server goes.
    enum ConnectBehaviour {
        case connectsAtOnce
        /// The connect stays in progress until `completeConnect` or a timeout.
        case pending
        case refused(Int32)
    }

    let config: GatewayConfig
    let environment: ExchangeEnvironment
    var machine: ExchangeMachine
    var wall: UInt64 = 1_800_000_000_000
    private(set) var now: UInt64 = 1_000
    private(set) var logs: [String] = []
    /// Everything the client has received.
    private(set) var clientReceived: [UInt8] = []
    private var clientPending: [UInt8] = []
    private var clientEOF = false
    /// When false, flushes to the client block (a client that stopped reading).
    var clientTakesBytes = true
    private(set) var clientWriteShut = false
    private(set) var clientClosed = false
    private(set) var actions: [ExchangeAction] = []
    private(set) var upstreams: [Upstream] = []
    /// Idle connections the machine released, by (environment, group, server), most recent last:
    /// like the I/O's pools, one set per configuration.
    private var pool: [String: [Upstream]] = [:]
    var connectBehaviour: [Int: [ConnectBehaviour]] = [:]
    /// Called when a server receives bytes, so tests can script the server's answer.
    var onUpstreamReceive: ((Upstream) -> Void)?
    /// With `observed`: the loop's metric block (in `registry`) and its access log lines.
    let registry: MetricsRegistry
    let metrics: LoopMetrics?
    let accessLog: CapturedAccessLog
    /// The loop's clock in µs, kept at `now`.
    let loopClock: LoopClock

    init(_ text: String, idempotency: IdempotencyStage? = nil, extraStages: [any ExchangeStage] = [], observed: Bool = false) throws {
        let config = try parseConfig(text)
        self.config = config
        let pipeline = RequestPipeline(config: config, idempotency: idempotency, extraStages: extraStages)
        var clock: () -> UInt64 = { 0 }
        var sink: (ExchangeEnvironment.LogLevel, String) -> Void = { _, _ in }
        let balancers = pipeline.upstreamNames.map { UpstreamBalancer(config: config.upstreams[$0]!) }
        let registry = MetricsRegistry(), accessLog = CapturedAccessLog(), loopClock = LoopClock(micros: 1_000_000)
        let layout = MetricsLayout(pipeline: pipeline, balancers: balancers)
        let metrics = observed ? registry.makeLoopMetrics(layout) : nil
        accessLog.encoder = AccessLogEncoder(format: .json, layout: layout)
        environment = ExchangeEnvironment(config: config, pipeline: pipeline, balancers: balancers, seed: 42,
                                          wallClock: { clock() }, log: { sink($0, $1) },
                                          metrics: metrics, accessLog: observed ? accessLog : nil, clock: loopClock)
        (self.registry, self.metrics, self.accessLog, self.loopClock) = (registry, metrics, accessLog, loopClock)
        machine = ExchangeMachine(environment: environment, client: ClientLink(), clientAddress: Array("10.1.2.3".utf8), now: now)
        clock = { [unowned self] in self.wall }
        sink = { [unowned self] _, line in self.logs.append(line) }
        drive()
    }

    var clientText: String { String(decoding: clientReceived, as: UTF8.self) }

    /// Responses the client has received so far, parsed.
    var responses: [(status: Int, headers: [String: String], body: String)] { ResponseSplitter.split(clientReceived) }

    // MARK: Client

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        clientPending += bytes
        machine.now = now
        machine.clientEvent(readable: true, writable: false, hangup: false, error: false)
        drive()
    }

    /// Bytes reach the client's socket without an event yet (the loop is busy elsewhere).
    func arrive(_ text: String) {
        clientPending += Array(text.utf8)
    }

    /// The client shuts its side (FIN): reads see EOF after what is pending.
    func clientCloses() {
        clientEOF = true
        machine.now = now
        machine.clientEvent(readable: true, writable: false, hangup: true, error: false)
        drive()
    }

    /// A client that stopped reading starts again.
    func clientDrains() {
        clientTakesBytes = true
        machine.now = now
        machine.clientEvent(readable: false, writable: true, hangup: false, error: false)
        drive()
    }

    // MARK: Upstream

    func upstream(_ index: Int) -> Upstream { upstreams[index] }

    /// The server on `connection` sends `text` (and then FIN when `close`).
    func respond(_ connection: Upstream, _ text: String, close: Bool = false) {
        connection.pending += Array(text.utf8)
        connection.eofAfterPending = close
        machine.now = now
        machine.upstreamEvent(readable: true, writable: false, hangup: close)
        drive()
    }

    func completeConnect(_ connection: Upstream) {
        machine.now = now
        connection.link.writable = true
        machine.upstreamConnected(connection.link)
        drive()
    }

    func refuseConnect(_ code: Int32 = ECONNREFUSED) {
        machine.now = now
        machine.upstreamConnectFailed(code: code)
        drive()
    }

    /// A connection the server closed while it sat idle in the pool, its FIN not yet seen: the
    /// keep-alive race a stale pooled connection comes from.
    func serverClosesIdle(group: Int = 0, server: Int = 0) {
        for connection in pool[poolKey(group, server)] ?? [] { connection.deadOnNextSend = true }
    }

    // MARK: Time

    func advance(_ millis: UInt64) {
        now += millis
        loopClock.micros = now * 1000
        wall += millis
        machine.now = now
        if machine.clientDeadline != 0 && now >= machine.clientDeadline { machine.clientTimerFired() }
        if machine.upstreamDeadline != 0 && now >= machine.upstreamDeadline { machine.upstreamTimerFired() }
        drive()
    }

    // MARK: Performing actions

    func drive() {
        for _ in 0..<10_000 {
            let action = machine.next()
            actions.append(action)
            switch action {
            case .readClient:
                let client = machine.client
                if client.input == nil { client.input = ByteBuffer(capacity: 64 * 1024) }
                let buffer = client.input!
                let room = buffer.writableCount
                if !clientPending.isEmpty {
                    let n = min(room, clientPending.count)
                    buffer.append(clientPending, count: n)
                    clientPending.removeFirst(n)
                    machine.clientRead(.bytes(n), room: room)
                } else {
                    machine.clientRead(clientEOF ? .eof : .wouldBlock, room: room)
                }
            case .flushClient:
                machine.clientFlushed(flush(machine.client.output, into: &clientReceived, takes: clientTakesBytes))
            case .readUpstream:
                guard let connection = current else { return XCTFail("readUpstream without an upstream") }
                let link = connection.link
                if link.input == nil { link.input = ByteBuffer(capacity: 64 * 1024) }
                let room = link.input!.writableCount
                if !connection.pending.isEmpty {
                    let n = min(room, connection.pending.count)
                    link.input!.append(connection.pending, count: n)
                    connection.pending.removeFirst(n)
                    machine.upstreamRead(.bytes(n), room: room)
                } else {
                    machine.upstreamRead(connection.eofAfterPending ? .eof : .wouldBlock, room: room)
                }
            case .flushUpstream:
                guard let connection = current else { return XCTFail("flushUpstream without an upstream") }
                let result = flush(connection.link.output, into: &connection.received, takes: true)
                machine.upstreamFlushed(result)
                if connection.deadOnNextSend {
                    connection.eofAfterPending = true
                    machine.upstreamEvent(readable: true, writable: false, hangup: true)
                }
                onUpstreamReceive?(connection)
            case .connect(let group, let server, _):
                connect(group: group, server: server)
            case .releaseUpstream(let link):
                let connection = upstreams.first { $0.link === link }!
                connection.released = true
                pool[poolKey(link.group, link.server.index), default: []].append(connection)
            case .closeUpstream(let link):
                upstreams.first { $0.link === link }!.closed = true
            case .shutdownClientWrite:
                clientWriteShut = true
            case .closeClient:
                clientClosed = true
                return
            case .wait:
                return
            }
        }
        XCTFail("the machine never waited")
    }

    /// The connection the machine currently holds.
    var current: Upstream? {
        guard let link = machine.upstream else { return nil }
        return upstreams.first { $0.link === link }
    }

    private func connect(group: Int, server: Int) {
        let key = poolKey(group, server)
        if var idle = pool[key], let connection = idle.popLast() {
            pool[key] = idle
            connection.released = false
            connection.link.reused = true
            machine.upstreamConnected(connection.link)
            return
        }
        var plan = connectBehaviour[server] ?? []
        let behaviour = plan.isEmpty ? .connectsAtOnce : plan.removeFirst()
        connectBehaviour[server] = plan
        if case .refused(let code) = behaviour {
            machine.upstreamConnectFailed(code: code)
            return
        }
        let link = UpstreamLink(group: group, server: machine.environment.balancers[group].servers[server])
        let connection = Upstream(link: link)
        upstreams.append(connection)
        if case .pending = behaviour {
            machine.upstreamConnecting(link)
        } else {
            link.writable = true
            machine.upstreamConnected(link)
        }
    }

    private func poolKey(_ group: Int, _ server: Int) -> String {
        "\(ObjectIdentifier(machine.environment).hashValue)/\(group)/\(server)"
    }

    private func flush(_ queue: OutputQueue, into sink: inout [UInt8], takes: Bool) -> FlushResult {
        if !takes { return .blocked(progressed: false) }
        var iov = [iovec](repeating: iovec(), count: OutputQueue.maxSegments)
        while !queue.isEmpty {
            let n = queue.gather(into: &iov, capacity: iov.count)
            var written = 0
            for i in 0..<n {
                let segment = UnsafeRawBufferPointer(start: iov[i].iov_base, count: iov[i].iov_len)
                sink += segment
                written += segment.count
            }
            queue.consume(written)
        }
        return .drained
    }
}

/// An access log sink that keeps every line, parsed.
final class CapturedAccessLog: AccessLogSink {
    private(set) var lines: [[String: Any]] = []
    var encoder: AccessLogEncoder?

    func write(_ record: AccessLogRecord) {
        let out = ByteBuffer(capacity: 256)
        encoder!.append(record, to: out)
        let object = try? JSONSerialization.jsonObject(with: Data(out.readableBytes))
        lines.append(object as? [String: Any] ?? ["unparsable": String(decoding: out.readableBytes, as: UTF8.self)])
    }
}

/// Splits a byte stream of HTTP/1.1 responses (Content-Length or chunked framed).
enum ResponseSplitter {
    static func split(_ bytes: [UInt8]) -> [(status: Int, headers: [String: String], body: String)] {
        var out: [(Int, [String: String], String)] = []
        var rest = bytes[...]
        while let end = rest.firstRange(of: [13, 10, 13, 10]) {
            let head = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst()
            let status = Int(statusLine.split(separator: " ")[1]) ?? 0
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            rest = rest[end.upperBound...]
            if status < 200 { continue }
            var body: [UInt8] = []
            if let length = headers["content-length"].flatMap({ Int($0) }) {
                body = Array(rest.prefix(length))
                rest = rest.dropFirst(length)
            } else if headers["transfer-encoding"] == "chunked" {
                while let lineEnd = rest.firstRange(of: [13, 10]) {
                    let size = Int(String(decoding: rest[rest.startIndex..<lineEnd.lowerBound], as: UTF8.self), radix: 16) ?? 0
                    rest = rest[lineEnd.upperBound...]
                    body += rest.prefix(size)
                    rest = rest.dropFirst(size + 2)
                    if size == 0 { break }
                }
            }
            out.append((status, headers, String(decoding: body, as: UTF8.self)))
        }
        return out
    }
}

extension ByteBuffer {
    func append(_ bytes: [UInt8], count: Int) {
        bytes.withUnsafeBytes { append($0.baseAddress!, count: count) }
    }
}
