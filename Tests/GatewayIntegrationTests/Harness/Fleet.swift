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

    func stop() {
        for deployment in gateways { deployment.stop() }
        upstream.stop()
        redis.stop()
    }
}
