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

let config: GatewayConfig
do {
    config = try GatewayConfig.load(path: path)
} catch {
    fail("\(error)")
}
// Names resolve here, for --check-config too: a server that does not resolve is a config error.
let addresses: ResolvedAddresses
do {
    addresses = try ResolvedAddresses.resolve(config)
} catch {
    fail("\(error)")
}
for warning in config.access.warnings { printError("warning: \(warning)") }

if arguments[0] == "--check-config" {
    print("gateway: configuration file \(path) is valid")
    exit(0)
}
if reloading {
    switch ReloadRequest.send(config) {
    case .success(let pid): print("gateway: asked process \(pid) to reload \(path); it logs the outcome")
    case .failure(let failure): fail("\(failure)")
    }
    exit(0)
}

do {
    try Server.run(config: config, addresses: addresses)
} catch {
    fail("cannot start: \(error)")
}
