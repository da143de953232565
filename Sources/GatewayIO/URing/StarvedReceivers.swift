/// Connections whose multishot recv ended with -ENOBUFS because every provided buffer was held.
/// Their bytes wait in the socket (nothing is lost); each is re-armed, oldest first, once a
/// buffer is free for it, so a loop short of buffers slows down instead of spinning on
/// receives that would fail again at once.
package struct StarvedReceivers {
    private var parked: [(fd: Int32, token: URingToken)] = []

    package init() {}

    package var count: Int { parked.count }
    package var isEmpty: Bool { parked.isEmpty }

    package mutating func park(_ fd: Int32, token: URingToken) {
        parked.append((fd, token))
    }

    /// The connection is closing: its descriptor may be reused, so it must not be re-armed.
    package mutating func forget(_ fd: Int32) {
        parked.removeAll { $0.fd == fd }
    }

    /// Re-arms up to one receiver per free buffer (each takes at least one when it has bytes);
    /// call once per loop iteration, before submitting. Returns how many were re-armed.
    @discardableResult
    package mutating func rearm(on ring: URing, buffers: ProvidedBuffers) -> Int {
        let n = min(parked.count, buffers.available)
        if n == 0 { return 0 }
        for entry in parked[0..<n] {
            ring.receiveMultishot(entry.fd, buffers: buffers, token: entry.token)
        }
        parked.removeFirst(n)
        return n
    }
}
