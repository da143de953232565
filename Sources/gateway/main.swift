import GatewayCore
import GatewayIO
import Glibc

// Flags in, config loaded, loops started: nothing else belongs here.

let usage = """
usage: gateway --config FILE         run the gateway
       gateway --check-config FILE   validate FILE and exit (like nginx -t)

"""

func fail(_ message: String, status: Int32 = 1) -> Never {
    var text = "gateway: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2, arguments[0] == "--config" || arguments[0] == "--check-config" else {
    if arguments.first == "--help" || arguments.first == "-h" {
        print(usage, terminator: "")
        exit(0)
    }
    fail("expected --config FILE or --check-config FILE\n\(usage)", status: 2)
}

let config: GatewayConfig
do {
    config = try GatewayConfig.load(path: arguments[1])
} catch {
    fail("\(error)")
}

if arguments[0] == "--check-config" {
    print("gateway: configuration file \(arguments[1]) is valid")
    exit(0)
}

do {
    try Server.run(config: config)
} catch {
    fail("cannot start: \(error)")
}
