import CSystem
import GatewayIO
import Glibc

// Echo micro-measurement, epoll vs io_uring, interleaved rounds in one run: syscalls and CPU
// time of the serving thread per echoed message, and the whole process's CPU per echo.
// Usage: io-echo-bench [rounds] [echoes per round] [connections] [message bytes] [epoll|io_uring]
// (naming one engine runs only that one, e.g. under strace -c -f to cross-check the counts).

let args = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let rounds = args.count > 0 ? args[0] : 5
let echoes = args.count > 1 ? args[1] : 100_000
let connections = args.count > 2 ? args[2] : 64
let messageSize = args.count > 3 ? args[3] : 64
let only = CommandLine.arguments.last.flatMap { ["epoll", "io_uring"].contains($0) ? $0 : nil }

csys_ignore_sigpipe()
_ = csys_raise_nofile_limit()
switch URing.availability() {
case .unavailable(let reason):
    print("io_uring unavailable: \(reason)")
    exit(1)
case .available(let capabilities):
    print("io_uring: \(capabilities.description)")
}
print("\(rounds) rounds × \(echoes) echoes, \(connections) connections, \(messageSize)-byte messages")

var results: [String: [Measurement]] = ["epoll": [], "io_uring": []]
for round in 0..<rounds {
    // Alternate which engine goes first, so drift on a shared machine hits both alike.
    let order = round % 2 == 0 ? ["epoll", "io_uring"] : ["io_uring", "epoll"]
    for engine in order where only == nil || only == engine {
        let m = try measure(engine: engine, echoes: echoes, connections: connections, messageSize: messageSize)
        results[engine]!.append(m)
        print("round \(round + 1) \(engine): \(m)")
    }
}
if only == nil { report(results) }
