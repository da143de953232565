import CSystem
import GatewayIO
import Glibc

struct Measurement: CustomStringConvertible {
    var echoes: Int
    var syscalls: Int
    var serverCPUNanos: Int
    var processCPUNanos: Int
    var wallNanos: Int

    var syscallsPerEcho: Double { Double(syscalls) / Double(echoes) }
    var serverMicrosPerEcho: Double { Double(serverCPUNanos) / Double(echoes) / 1000 }
    var processMicrosPerEcho: Double { Double(processCPUNanos) / Double(echoes) / 1000 }
    var echoesPerSecond: Double { Double(echoes) / (Double(wallNanos) / 1e9) }

    var description: String {
        "\(fmt(syscallsPerEcho)) syscalls/echo, server \(fmt(serverMicrosPerEcho)) µs CPU/echo, "
            + "process \(fmt(processMicrosPerEcho)) µs CPU/echo, \(Int(echoesPerSecond)) echoes/s"
    }
}

func fmt(_ x: Double) -> String {
    let scaled = Int((x * 100).rounded())
    let fraction = scaled % 100
    return "\(scaled / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

func nanos(_ clock: clockid_t) -> Int {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// One round: a fresh listener, the client thread, and the server on this thread until it has
/// echoed every message; CPU is this thread's (user + system), and the whole process's.
func measure(engine: String, echoes: Int, connections: Int, messageSize: Int) throws -> Measurement {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
            _ = bind(fd, p, length)
            _ = listen(fd, 4096)
            return getsockname(fd, p, &length)
        }
    }
    var done: [Int32] = [-1, -1]
    _ = pipe(&done)
    let wall0 = nanos(CLOCK_MONOTONIC), thread0 = nanos(CLOCK_THREAD_CPUTIME_ID), process0 = nanos(CLOCK_PROCESS_CPUTIME_ID)
    EchoClient.start(port: UInt16(bigEndian: address.sin_port), connections: connections, total: echoes,
                     messageSize: messageSize, done: done[1])
    let served = engine == "epoll"
        ? EpollEcho.serve(listener: fd, echoes: echoes, messageSize: messageSize)
        : try URingEcho.serve(listener: fd, echoes: echoes, messageSize: messageSize)
    let thread1 = nanos(CLOCK_THREAD_CPUTIME_ID)
    var byte: UInt8 = 0
    _ = read(done[0], &byte, 1)
    let wall1 = nanos(CLOCK_MONOTONIC), process1 = nanos(CLOCK_PROCESS_CPUTIME_ID)
    close(done[0]); close(done[1]); close(fd)
    return Measurement(echoes: served.echoes, syscalls: served.syscalls, serverCPUNanos: thread1 - thread0,
                       processCPUNanos: process1 - process0, wallNanos: wall1 - wall0)
}

func report(_ results: [String: [Measurement]]) {
    func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
    func spread(_ xs: [Double]) -> String { "\(fmt(xs.min()!))–\(fmt(xs.max()!))" }
    let e = results["epoll"]!, u = results["io_uring"]!
    print("\nmedians (min–max) over \(e.count) rounds")
    let rows: [(String, (Measurement) -> Double)] = [
        ("syscalls per echo (server)", { $0.syscallsPerEcho }),
        ("server CPU µs per echo", { $0.serverMicrosPerEcho }),
        ("process CPU µs per echo", { $0.processMicrosPerEcho }),
        ("echoes per second", { $0.echoesPerSecond / 1000 }),
    ]
    for (name, f) in rows {
        let ev = e.map(f), uv = u.map(f)
        let unit = name.hasPrefix("echoes") ? "k" : ""
        print("\(name): epoll \(fmt(median(ev)))\(unit) (\(spread(ev))), io_uring \(fmt(median(uv)))\(unit) (\(spread(uv))), "
              + "io_uring ÷ epoll \(fmt(median(uv) / median(ev)))")
    }
}
