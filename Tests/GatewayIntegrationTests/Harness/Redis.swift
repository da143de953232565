import Foundation
import GatewayCore
import XCTest

/// A private redis-server for one test: its own free port on 127.0.0.1, its own directory, no
/// persistence (`--save "" --appendonly no`), never the system service. Killed when the test ends.
final class RedisServer {
    let port: UInt16
    let directory = NSTemporaryDirectory() + "gateway-redis-\(UUID().uuidString)"
    private let cluster: Bool
    /// With a certificate and its key, Redis speaks TLS only (`--port 0 --tls-port PORT`).
    private let tls: (chain: String, key: String)?
    private let extra: [String]
    private(set) var process: ChildProcess?

    /// Skips the test when Debian's redis-server is not installed (`./dev.sh deps` installs it).
    static func binary() throws -> String {
        guard let path = toolPath("redis-server") else {
            throw XCTSkip("redis-server is not installed; ./dev.sh deps installs it (Debian package redis-server)")
        }
        return path
    }

    /// `extra`: more redis-server arguments (`--requirepass`, ...).
    init(port: UInt16 = freePort(), cluster: Bool = false, tls: (chain: String, key: String)? = nil, extra: [String] = []) throws {
        self.port = port
        self.extra = extra
        self.cluster = cluster
        self.tls = tls
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    func start() throws {
        var arguments = tls.map { ["--port", "0", "--tls-port", "\(port)", "--tls-cert-file", $0.chain, "--tls-key-file", $0.key,
                                   "--tls-auth-clients", "no"] } ?? ["--port", "\(port)"]
        arguments += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory,
                         "--daemonize", "no", "--protected-mode", "no"]
        arguments += extra
        if cluster { arguments += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(port).conf"] }
        let child = try ChildProcess(try Self.binary(), arguments)
        try child.waitForOutput("Ready to accept connections", timeout: 10)
        process = child
    }

    /// SIGKILL: gone at once, as in a crash.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.pid, SIGKILL)
        _ = process.waitForExit(timeout: 5)
    }

    func stop() {
        process?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }

    /// Commands in turn on one connection of their own; the last reply.
    @discardableResult
    func command(_ words: [String]...) throws -> RESPValue {
        let client = try RawClient(port: port, timeout: 5)
        var reply = RESPValue.null
        for command in words {
            try client.send(RESPCommand(command).bytes)
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                if case .value(let value, _) = RESPParser.parse(received) {
                    reply = value
                    break
                }
                let n = recv(client.fd, &chunk, chunk.count, 0)
                guard n > 0 else { throw HarnessError("redis on \(port): no reply to \(command.first ?? "")") }
                received += chunk[..<n]
            }
        }
        return reply
    }
}

/// Three redis-server nodes made into a Redis Cluster (no replicas) with `redis-cli --cluster
/// create`, waited for until every slot is served.
final class RedisCluster {
    let nodes: [RedisServer]

    init() throws {
        nodes = try (0..<3).map { _ in try RedisServer(port: Self.nodePort(), cluster: true) }
        guard let cli = toolPath("redis-cli") else { throw XCTSkip("redis-cli is not installed (package redis-tools)") }
        let run = try runTool(cli, ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "0", "--cluster-yes"],
                              timeout: 30)
        guard run.exitStatus == 0 else { throw HarnessError("redis-cli --cluster create failed: \(run.text) \(run.stderr)") }
        let ready = try eventually(timeout: 15, interval: 100_000) {
            try nodes.allSatisfy { node in
                guard case .bulk(let info) = try node.command(["CLUSTER", "INFO"]) else { return false }
                return String(decoding: info, as: UTF8.self).contains("cluster_state:ok")
            }
        }
        guard ready else { throw HarnessError("the cluster never reached cluster_state:ok") }
    }

    /// A free port whose cluster bus port (10000 above it) is free and a port too.
    private static func nodePort() -> UInt16 {
        while true {
            let port = freePort()
            guard port <= 55_535 else { continue }
            let bus = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(bus) }
            let bound = withLoopbackAddress(port + 10_000) { bind(bus, $0, $1) }
            if bound == 0 { return port }
        }
    }

    /// The node that serves `key`'s slot.
    func node(serving key: String) throws -> RedisServer {
        let slot = ClusterSlot.slot(key)
        guard case .array(let ranges) = try nodes[0].command(["CLUSTER", "SLOTS"]) else { throw HarnessError("no CLUSTER SLOTS") }
        for range in ranges {
            guard let fields = range.elements, let first = fields[0].integer, let last = fields[1].integer,
                  let master = fields[2].elements, let port = master[1].integer else { continue }
            if Int(first)...Int(last) ~= slot, let node = nodes.first(where: { Int64($0.port) == port }) { return node }
        }
        throw HarnessError("no node serves slot \(slot)")
    }

    func stop() { for node in nodes { node.stop() } }
}
