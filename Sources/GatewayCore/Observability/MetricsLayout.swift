/// The label values of one configuration and where each metric family sits in a loop's block of
/// cells. Every label value comes from the configuration (route prefixes, upstream names, server
/// addresses) or from a fixed list (methods, status classes, error codes, limits), never from a
/// request: the number of series is bounded by the configuration.
public struct MetricsLayout: Sendable, Equatable {
    /// Route prefixes by route index; requests without a route count under `noRoute`.
    public let routes: [String]
    /// Upstream names by group index (`RequestPipeline.upstreamNames` order).
    public let upstreams: [String]
    /// Server labels by group, then by the balancer's server index.
    public let servers: [[String]]

    public static let noRoute = "none"
    /// By `HTTPMethod.rawValue`.
    public static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"]
    public static let statusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    let errorsAt: Int
    let rejectionsAt: Int
    let idempotencyAt: Int
    let scalarsAt: Int
    let latencyAt: Int
    let serversAt: Int
    let cellCount: Int
    /// Flat index of each group's first server.
    let serverBase: [Int]

    public init(routes: [String], upstreams: [String], servers: [[String]]) {
        self.routes = routes
        self.upstreams = upstreams
        self.servers = servers
        errorsAt = (routes.count + 1) * Self.methods.count * Self.statusClasses.count
        rejectionsAt = errorsAt + GatewayErrorKind.allCases.count
        idempotencyAt = rejectionsAt + PolicyLimit.allCases.count
        scalarsAt = idempotencyAt + IdempotencyOutcome.allCases.count
        latencyAt = scalarsAt + LoopScalar.allCases.count
        serversAt = latencyAt + upstreams.count * Self.latencyCells
        var base: [Int] = []
        var total = 0
        for group in servers {
            base.append(total)
            total += group.count
        }
        serverBase = base
        cellCount = serversAt + total * ServerCell.allCases.count
    }

    /// The labels of the pipeline's routes and of the loop's balancers (their resolved servers).
    public init(pipeline: RequestPipeline, balancers: [UpstreamBalancer]) {
        self.init(routes: pipeline.routes.map(\.config.prefix), upstreams: pipeline.upstreamNames,
                  servers: balancers.map { $0.servers.map(\.label) })
    }

    public static func == (a: MetricsLayout, b: MetricsLayout) -> Bool {
        a.routes == b.routes && a.upstreams == b.upstreams && a.servers == b.servers
    }

    // MARK: Cell positions

    /// Finite buckets, +Inf, the sum (µs) and the count.
    static let latencyCells = LatencyBuckets.count + 2

    func request(route: Int?, method: HTTPMethod, statusClass: Int) -> Int {
        ((route ?? routes.count) * Self.methods.count + Int(method.rawValue)) * Self.statusClasses.count + statusClass
    }

    func error(_ kind: GatewayErrorKind) -> Int { errorsAt + Self.errorIndex[kind]! }
    func rejection(_ limit: PolicyLimit) -> Int { rejectionsAt + limit.rawValue }
    func idempotency(_ outcome: IdempotencyOutcome) -> Int { idempotencyAt + outcome.rawValue }
    func scalar(_ scalar: LoopScalar) -> Int { scalarsAt + scalar.rawValue }
    func latency(group: Int) -> Int { latencyAt + group * Self.latencyCells }
    func server(group: Int, server: Int, _ cell: ServerCell) -> Int {
        serversAt + (serverBase[group] + server) * ServerCell.allCases.count + cell.rawValue
    }

    /// 1xx...5xx as 0...4; anything outside 100...599 counts with 5xx (it is the gateway's fault).
    static func statusClass(_ status: Int) -> Int { status >= 100 && status < 600 ? status / 100 - 1 : 4 }

    private static let errorIndex: [GatewayErrorKind: Int] =
        Dictionary(uniqueKeysWithValues: GatewayErrorKind.allCases.enumerated().map { ($1, $0) })
}

/// One loop's plain counters.
enum LoopScalar: Int, CaseIterable {
    case connectionsOpened, connectionsClosed, exchangesStarted, exchangesEnded, bytesReceived, bytesSent
    /// Requests the shared store's limits admitted from a local allowance (`store_sync`).
    case storeLocalAdmissions
}

/// Per upstream server, per loop.
enum ServerCell: Int, CaseIterable {
    /// Idle keep-alive connections in the loop's pool (a gauge).
    case pooled
    case ejections
}
