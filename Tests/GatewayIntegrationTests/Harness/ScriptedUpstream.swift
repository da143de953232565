import Foundation

/// A TCP server in the test process whose every accepted connection runs `script` on its own
/// thread: for upstream behaviour the mock cannot produce (garbage, early answers then a reset).
final class ScriptedUpstream: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var acceptedCount = 0
    private var stopped = false

    init(script: @escaping @Sendable (ScriptedConnection) -> Void) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        port = try Self.bindFreePort(listener, &address)
        let thread = Thread { [self] in
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                lock.lock()
                acceptedCount += 1
                let done = stopped
                lock.unlock()
                if done { close(fd); return }
                Thread.detachNewThread { script(ScriptedConnection(fd: fd)) }
            }
        }
        thread.start()
    }

    private static func bindFreePort(_ listener: Int32, _ address: inout sockaddr_in) throws -> UInt16 {
        for _ in 0..<20 {
            let chosen = freePort()
            address.sin_port = chosen.bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 && listen(listener, 64) == 0 { return chosen }
        }
        close(listener)
        throw HarnessError("scripted upstream: cannot listen")
    }

    var accepted: Int {
        lock.lock()
        defer { lock.unlock() }
        return acceptedCount
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }
}

/// One accepted connection of a `ScriptedUpstream`.
struct ScriptedConnection: Sendable {
    let fd: Int32

    /// Reads until the end of a request head; false on EOF.
    func readHead() -> Bool {
        var seen: [UInt8] = []
        var byte: UInt8 = 0
        while recv(fd, &byte, 1, 0) == 1 {
            seen.append(byte)
            if seen.count >= 4 && seen.suffix(4).elementsEqual([13, 10, 13, 10]) { return true }
        }
        return false
    }

    func write(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Closes at once; with unread bytes pending, the kernel answers the peer with a reset.
    func close() { Glibc.close(fd) }
}
