import Foundation

/// Several gateway processes sharing one Redis store, in front of one mock upstream: the
/// "several instances behind a load balancer" setup, with the test as the load balancer.
final class Fleet {
    let redis: RedisServer
    let mock: UInt16
    private let upstream: Deployment
    private(set) var gateways: [Deployment]
    /// With `admin`: each instance's own `admin_listen` port (for `/metrics`), in instance order.
    private(set) var adminPorts: [UInt16] = []
    private let admin: Bool
    let body: String

    /// `body(mock)`: plans, keys, upstream and routes; the `store` lines come first.
    /// `store`: what follows `redis://127.0.0.1:PORT` on the store line (`/DB password=... tls`).
    init(instances: Int = 3, redis: RedisServer? = nil, store: String = "", admin: Bool = false, body: (UInt16) -> String) throws {
        let redis = try redis ?? RedisServer()
        self.redis = redis
        self.admin = admin
        upstream = Deployment()
        mock = try upstream.startMock()
        self.body = """
        store redis://127.0.0.1:\(redis.port)\(store);
        store_command_timeout 250ms;
        \(body(mock))
        """
        gateways = []
        for _ in 0..<instances { try startInstance() }
    }

    var ports: [UInt16] { gateways.map(\.gatewayPort) }

    @discardableResult
    func startInstance() throws -> Deployment {
        let deployment = Deployment()
        let adminPort = admin ? freePort() : nil
        try deployment.startGateway(body, extra: adminPort.map { "admin_listen 127.0.0.1:\($0);" } ?? "")
        gateways.append(deployment)
        if let adminPort { adminPorts.append(adminPort) }
        return deployment
    }

    /// SIGKILL, as in a crash: nothing is released on the way out.
    func kill(_ index: Int) {
        guard let process = gateways[index].gateway else { return }
        Glibc.kill(process.pid, SIGKILL)
        _ = process.waitForExit(timeout: 5)
    }

    /// Stops and starts every instance again (a rolling restart would do the same, one by one).
    func restartAll() throws {
        for deployment in gateways { deployment.stop() }
        gateways = []
        adminPorts = []
        for _ in 0..<3 { try startInstance() }
    }

    /// `clients` threads, each sending `perSecond` GETs a second with `key` for `seconds`, round
    /// robin over the instances (each thread starting at its own): every answer's instance and
    /// status (0: no answer; -1: a thread could not connect), and how long it took.
    func paced(key: String, clients: Int, perSecond: Double, seconds: Double) -> (outcomes: [(instance: Int, status: Int)], elapsed: Double) {
        let ports = ports
        // Each outcome as instance * 1000 + status.
        let results = ResultBox()
        let start = Date()
        onThreads(clients) { worker in
            let connections = ports.compactMap { try? RawClient(port: $0) }
            guard connections.count == ports.count else { return results.add(-1) }
            var sent = 0
            while true {
                let due = start.addingTimeInterval(Double(sent) / perSecond + Double(worker) * 0.005)
                if due.timeIntervalSince(start) >= seconds { break }
                if due > Date() { Thread.sleep(until: due) }
                let instance = (sent + worker) % ports.count
                let status = (try? connections[instance].exchange(get("/v1/sessions/a", headers: "X-API-Key: \(key)\r\n")))?.status ?? 0
                results.add(instance * 1000 + status)
                sent += 1
            }
        }
        let outcomes = results.values.map { $0 < 0 ? (instance: 0, status: -1) : (instance: $0 / 1000, status: $0 % 1000) }
        return (outcomes, Date().timeIntervalSince(start))
    }

    func stop() {
        for deployment in gateways { deployment.stop() }
        upstream.stop()
        redis.stop()
    }
}
