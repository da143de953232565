import GatewayCore
import GatewayIO
import Glibc

// Flags in, config loaded, loops started: nothing else belongs here.

let usage = """
usage: gateway --config FILE         run the gateway
       gateway --check-config FILE   validate FILE and exit (like nginx -t)
       gateway --reload --config FILE
                                     validate FILE, then ask the gateway named by its 'pid' file to reload it (SIGHUP)
       gateway hash-key KEY          print the SHA-256 of an API key, for 'key sha256:HEX' in the config
       gateway --version             print the version

"""

func printError(_ message: String) {
    var text = "gateway: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    printError(message)
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments == ["--version"] {
    print("gateway \(gatewayVersion)")
    exit(0)
}
if arguments.count == 2, arguments[0] == "hash-key" {
    print(KeyHash.hex(KeyHash.sha256(arguments[1])))
    exit(0)
}
let reloading = arguments.count == 3 && arguments[0] == "--reload" && arguments[1] == "--config"
let path = arguments.last ?? ""
guard reloading || arguments.count == 2 && (arguments[0] == "--config" || arguments[0] == "--check-config") else {
    if arguments.first == "--help" || arguments.first == "-h" {
        print(usage, terminator: "")
        exit(0)
    }
    fail("expected --config FILE, --check-config FILE or --reload --config FILE\n\(usage)", status: 2)
}

/// FILE read, validated, its names resolved (a server that does not resolve is a config error,
/// for --check-config too) and its certificates, keys and CA files loaded (with OpenSSL's
/// reasons); any error ends the process.
func load(_ path: String) -> (GatewayConfig, ResolvedAddresses, TLSContexts) {
    do {
        let config = try GatewayConfig.load(path: path)
        let addresses = try ResolvedAddresses.resolve(config)
        let tls = try TLSContexts.load(config)
        for warning in config.access.warnings { printError("warning: \(warning)") }
        return (config, addresses, tls)
    } catch {
        fail("\(error)")
    }
}

/// Runs the gateway. The configuration is handed over, not kept here: once a reload replaces it,
/// nothing holds the first one (with a million keys, a hundred megabytes).
func serve(_ path: String) -> Never {
    let (config, addresses, tls) = load(path)
    do {
        try Server.run(config: consume config, addresses: consume addresses, tls: tls)
    } catch {
        fail("cannot start: \(error)")
    }
}

switch arguments[0] {
case "--check-config":
    _ = load(path)
    print("gateway: configuration file \(path) is valid")
case "--reload":
    switch ReloadRequest.send(load(path).0) {
    case .success(let pid): print("gateway: asked process \(pid) to reload \(path); it logs the outcome")
    case .failure(let failure): fail("\(failure)")
    }
default:
    serve(path)
}
