import Foundation

/// A throwaway PKI made with the `openssl` command once per test process: a CA, server
/// certificates for two names (SNI), a certificate from another CA (verification must fail),
/// and a client certificate for mTLS. EC P-256 keys: quick to make, quick to use.
struct TLSFixtures {
    let directory: String
    var ca: String { path("ca.pem") }
    /// CN a.test, subjectAltName a.test, localhost and 127.0.0.1.
    var a: (chain: String, key: String) { (path("a.pem"), path("a.key")) }
    /// CN b.test, subjectAltName b.test only.
    var b: (chain: String, key: String) { (path("b.pem"), path("b.key")) }
    /// Signed by another CA, names as `a`.
    var foreign: (chain: String, key: String) { (path("foreign.pem"), path("foreign.key")) }
    var client: (chain: String, key: String) { (path("client.pem"), path("client.key")) }

    func path(_ name: String) -> String { directory + "/" + name }

    /// The fixtures, made on first use; later calls get the same ones (or the same error).
    static func shared() throws -> TLSFixtures { try made.get() }

    private static let made: Result<TLSFixtures, Error> = Result { try TLSFixtures.make() }

    /// One directory per test process, removed when the process exits.
    private static var directoryOfThisProcess: String { NSTemporaryDirectory() + "gateway-tls-\(getpid())" }

    private static func make() throws -> TLSFixtures {
        guard let openssl = toolPath("openssl") else { throw HarnessError("the openssl command is missing (./dev.sh deps installs it)") }
        let directory = directoryOfThisProcess
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: TLSFixtures.directoryOfThisProcess) }
        let fixtures = TLSFixtures(directory: directory)
        func run(_ arguments: [String]) throws {
            let result = try runTool(openssl, arguments)
            guard result.exitStatus == 0 else { throw HarnessError("openssl \(arguments.joined(separator: " ")): \(result.stderr)") }
        }
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try run(["req", "-x509"] + newKey + ["-keyout", fixtures.path("\(ca).key"), "-out", fixtures.path("\(ca).pem"),
                     "-days", "2", "-subj", "/CN=Gateway test \(ca)"])
        }
        func leaf(_ name: String, cn: String, sans: String?, ca: String) throws {
            try run(["req"] + newKey + ["-keyout", fixtures.path("\(name).key"), "-out", fixtures.path("\(name).csr"), "-subj", "/CN=\(cn)"])
            var sign = ["x509", "-req", "-in", fixtures.path("\(name).csr"), "-CA", fixtures.path("\(ca).pem"),
                        "-CAkey", fixtures.path("\(ca).key"), "-set_serial", String(UInt32.random(in: 1...UInt32.max)),
                        "-days", "2", "-out", fixtures.path("\(name).pem")]
            if let sans {
                try "subjectAltName=\(sans)\n".write(toFile: fixtures.path("\(name).ext"), atomically: true, encoding: .utf8)
                sign += ["-extfile", fixtures.path("\(name).ext")]
            }
            try run(sign)
        }
        try leaf("a", cn: "a.test", sans: "DNS:a.test,DNS:localhost,IP:127.0.0.1", ca: "ca")
        try leaf("b", cn: "b.test", sans: "DNS:b.test", ca: "ca")
        try leaf("foreign", cn: "a.test", sans: "DNS:a.test,DNS:localhost,IP:127.0.0.1", ca: "other-ca")
        try leaf("client", cn: "gateway-client", sans: nil, ca: "ca")
        return fixtures
    }
}

/// A TLS upstream (`tls_upstream.py`) on a fresh port, stopped when the test ends.
final class TLSUpstream {
    let port: UInt16
    private let process: ChildProcess

    init(chain: String, key: String, clientCA: String? = nil) throws {
        guard let python = toolPath("python3") else { throw HarnessError("python3 is missing (./dev.sh deps installs it)") }
        let script = Binaries.root.appendingPathComponent("Tests/GatewayIntegrationTests/Harness/tls_upstream.py").path
        port = freePort()
        var arguments = [script, "--port", "\(port)", "--cert", chain, "--key", key]
        if let clientCA { arguments += ["--client-ca", clientCA] }
        process = try ChildProcess(python, arguments)
        try process.waitForOutput("listening")
    }

    func stop() { process.stop() }

    deinit { stop() }
}
