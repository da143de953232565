import Synchronization

/// One answer of the admin listener.
public struct AdminResponse: Sendable {
    public var status: Int
    public var contentType: String
    /// Further header lines (`Allow` on a 405).
    public var headers: [(String, String)] = []
    public var body: [UInt8]
}

/// What the admin listener serves: `GET /metrics` (Prometheus text), `GET /healthz` (the process
/// answers), `GET /readyz` (ready for traffic, see `Readiness`); HEAD too. Other paths get the
/// gateway's 404 envelope, other methods a 405. The I/O layer parses and writes; this decides.
public final class AdminEndpoints: Sendable {
    let registry: MetricsRegistry
    let status: GatewayStatus
    /// The running configuration's; a reload puts its own in (the lock is the scrape's and the
    /// reload's, never a request's).
    private let currentHealth: Mutex<UpstreamHealthTable>
    let idempotency: IdempotencyStore?
    let store: StoreStats?
    let accessLog: AccessLogStats?
    let vocabulary: ErrorVocabulary

    public init(registry: MetricsRegistry, status: GatewayStatus, health: UpstreamHealthTable,
                idempotency: IdempotencyStore?, store: StoreStats? = nil, accessLog: AccessLogStats?, vocabulary: ErrorVocabulary) {
        self.registry = registry
        self.status = status
        currentHealth = Mutex(health)
        self.idempotency = idempotency
        self.store = store
        self.accessLog = accessLog
        self.vocabulary = vocabulary
    }

    var health: UpstreamHealthTable { currentHealth.withLock { $0 } }

    /// A reload's upstream groups, for the scrapes and readiness checks from now on.
    public func replaceHealth(_ table: UpstreamHealthTable) {
        currentHealth.withLock { $0 = table }
    }

    /// `path` without the query; `nowMillis` on the loops' monotonic clock (health's deadlines);
    /// `requestID` for the envelope of a 404 or 405.
    public func respond(method: HTTPMethod, path: String, requestID: String, nowMillis: UInt64) -> AdminResponse {
        let endpoint: () -> AdminResponse
        switch path {
        case "/metrics": endpoint = { self.metrics(nowMillis: nowMillis) }
        case "/healthz": endpoint = { AdminResponse(status: 200, contentType: Self.json, body: Array("{\"status\":\"alive\"}\n".utf8)) }
        case "/readyz": endpoint = { self.readiness(nowMillis: nowMillis) }
        default:
            return envelope(GatewayError(.resourceNotFound, "No admin endpoint at this path; there are /metrics, /healthz and /readyz"),
                            requestID: requestID)
        }
        guard method == .get || method == .head else {
            var response = envelope(GatewayError(.methodNotAllowed, "Admin endpoints answer GET and HEAD",
                                                 details: [("allowed", .string("GET, HEAD"))]), requestID: requestID)
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        }
        return endpoint()
    }

    /// A request the admin listener could not parse.
    public func malformed(requestID: String) -> AdminResponse {
        envelope(GatewayError(.invalidRequest, "Malformed HTTP request"), requestID: requestID)
    }

    private static let json = "application/json"

    private func metrics(nowMillis: UInt64) -> AdminResponse {
        let exposition = MetricsExposition(snapshot: registry.snapshot(), health: health, nowMillis: nowMillis, status: status,
                                           idempotency: idempotency?.gauges, store: store, accessLog: accessLog)
        return AdminResponse(status: 200, contentType: PrometheusText.contentType, body: Array(exposition.render().utf8))
    }

    private func readiness(nowMillis: UInt64) -> AdminResponse {
        let generation = status.configGeneration
        let unhealthy = health.groups.filter { !$0.hasHealthyServer(now: nowMillis) }.map(\.config.name)
        let readiness = Readiness.evaluate(listening: status.isListening, configGeneration: generation, draining: status.isDraining,
                                           unhealthy: unhealthy)
        return AdminResponse(status: readiness.isReady ? 200 : 503, contentType: Self.json, body: readiness.json(configGeneration: generation))
    }

    private func envelope(_ error: GatewayError, requestID: String) -> AdminResponse {
        let rendered = ErrorEnvelope.render(error, vocabulary: vocabulary, requestID: requestID)
        return AdminResponse(status: rendered.status, contentType: Self.json, body: rendered.body)
    }
}
