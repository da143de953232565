import CSystem
import GatewayCore
import Glibc
import Synchronization

/// The access log's one writer. Loops hand it full buffers (by size, or every 100 ms) and its own
/// thread writes them, so no loop ever waits on a disk or a pipe. SIGUSR1 makes it reopen the
/// file (logrotate renamed it). When the destination fails (a full disk) or the loops produce
/// faster than it writes, lines are dropped and counted for the metrics, never queued without bound.
final class AccessLogWriter: Sendable {
    /// One loop's buffer of whole lines; owned by that loop until handed off, then by the writer.
    final class Chunk: @unchecked Sendable {
        let buffer = ByteBuffer(capacity: AccessLogWriter.chunkBytes + 4096)
        var lines = 0
    }

    /// A loop hands its chunk off once it holds this much.
    static let chunkBytes = 64 << 10
    /// Bytes waiting for the writer beyond which new chunks are dropped.
    static let maxPendingBytes = 16 << 20

    private struct Queue {
        var pending: [Chunk] = []
        var pendingBytes = 0
        var free: [Chunk] = []
        /// The writer thread holds a batch it took from `pending`.
        var writing = false
    }

    let stats: AccessLogStats
    private let destination: AccessLogConfig.Destination
    private let queue = Mutex(Queue())
    /// The open destination; replaced on the writer thread only.
    private let fd: Atomic<Int32>

    /// Opens the destination (a file is created if missing and appended to).
    init(destination: AccessLogConfig.Destination, stats: AccessLogStats) throws(SystemError) {
        self.destination = destination
        self.stats = stats
        fd = Atomic(try Self.open(destination))
    }

    /// Starts the writer thread; `reopenSignal` is a signalfd for SIGUSR1 (-1: none).
    func start(reopenSignal: Int32) throws(SystemError) {
        try Thread.start { self.run(reopenSignal) }
    }

    /// A loop's full (or timed-out) chunk for an empty one. Past the bound the chunk's lines are
    /// dropped instead, and the loop keeps (and reuses) its chunk.
    func handOff(_ chunk: Chunk) -> Chunk {
        let size = chunk.buffer.readableCount
        let (accepted, fresh) = queue.withLock { queue -> (Bool, Chunk?) in
            guard queue.pendingBytes + size <= Self.maxPendingBytes else { return (false, nil) }
            queue.pending.append(chunk)
            queue.pendingBytes += size
            return (true, queue.free.popLast())
        }
        guard accepted else {
            stats.linesDropped(chunk.lines)
            chunk.buffer.clear()
            chunk.lines = 0
            return chunk
        }
        return fresh ?? Chunk()
    }

    /// At a graceful exit, once the loops have handed off their last lines: waits (at most
    /// `timeoutMs`) until the writer has written everything handed to it.
    func waitUntilWritten(timeoutMs: UInt64) {
        let deadline = Clock.monotonicMillis() + timeoutMs
        while queue.withLock({ !$0.pending.isEmpty || $0.writing }) && Clock.monotonicMillis() < deadline { usleep(5_000) }
    }

    // MARK: The writer thread

    private func run(_ reopenSignal: Int32) {
        var failing = false
        var signal = pollfd(fd: reopenSignal, events: Int16(POLLIN), revents: 0)
        while true {
            // Woken every 100 ms (the loops' flush interval) or at once by SIGUSR1.
            _ = poll(&signal, reopenSignal >= 0 ? 1 : 0, 100)
            if reopenSignal >= 0 && csys_signal_fd_drain(reopenSignal) > 0 { reopen() }
            let batch = queue.withLock { queue -> [Chunk] in
                defer { queue.pending.removeAll(keepingCapacity: true); queue.pendingBytes = 0 }
                queue.writing = !queue.pending.isEmpty
                return queue.pending
            }
            if batch.isEmpty { continue }
            for chunk in batch {
                let (lost, error) = write(chunk)
                if lost > 0 {
                    stats.linesDropped(lost)
                    if !failing { Log.warn("access log \(Self.describe(destination)): \(String(cString: strerror(error))); dropping lines (counted in /metrics)") }
                    failing = true
                } else if failing {
                    Log.info("access log \(Self.describe(destination)): writing again")
                    failing = false
                }
                chunk.buffer.clear()
                chunk.lines = 0
            }
            queue.withLock { queue in
                if queue.free.count < 64 { queue.free.append(contentsOf: batch.prefix(64 - queue.free.count)) }
                queue.writing = false
            }
        }
    }

    /// Writes one chunk; returns how many of its lines could not be written, and why. To a pipe or a
    /// terminal (stderr) it writes at most PIPE_BUF bytes of whole lines at a time, so its lines
    /// never interleave with another writer's (the gateway's own log lines).
    private func write(_ chunk: Chunk) -> (lost: Int, error: Int32) {
        let buffer = chunk.buffer
        let fd = fd.load(ordering: .relaxed)
        let piecewise = destination == .stderr
        var start = buffer.readPointer, left = buffer.readableCount
        var waits = 0
        while left > 0 {
            let piece = piecewise ? Self.wholeLines(start, left, limit: Int(PIPE_BUF)) : left
            let n = Glibc.write(fd, start, piece)
            if n > 0 {
                start += n
                left -= n
                continue
            }
            let error = errno
            if error == EINTR { continue }
            // A non-blocking stderr that is full: wait a little, a bounded number of times.
            if (error == EAGAIN || error == EWOULDBLOCK) && waits < 50 {
                waits += 1
                var out = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&out, 1, 100)
                continue
            }
            return (Self.lineCount(start, left), error)
        }
        return (0, 0)
    }

    /// SIGUSR1: logrotate moved the file; open a new one at the same path.
    private func reopen() {
        guard case .file(let path) = destination else { return }
        let fresh = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fresh >= 0 else {
            Log.warn("access log \(path): cannot reopen: \(String(cString: strerror(errno))); still writing to the old file")
            return
        }
        let old = fd.exchange(fresh, ordering: .relaxed)
        close(old)
        stats.fileReopened()
        Log.info("access log \(path) reopened")
    }

    private static func open(_ destination: AccessLogConfig.Destination) throws(SystemError) -> Int32 {
        switch destination {
        case .off, .stderr: return 2
        case .file(let path):
            let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw SystemError("access_log: open \(path)", errno) }
            return fd
        }
    }

    private static func describe(_ destination: AccessLogConfig.Destination) -> String {
        if case .file(let path) = destination { return path }
        return "(stderr)"
    }

    /// The longest run of whole lines within `limit` bytes (a longer first line goes whole).
    private static func wholeLines(_ p: UnsafeMutablePointer<UInt8>, _ count: Int, limit: Int) -> Int {
        if count <= limit { return count }
        var last = limit - 1
        while last >= 0 && p[last] != 0x0A { last -= 1 }
        if last >= 0 { return last + 1 }
        guard let end = memchr(p + limit, 0x0A, count - limit) else { return count }
        return UnsafeMutableRawPointer(end) - UnsafeMutableRawPointer(p) + 1
    }

    private static func lineCount(_ p: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
        var lines = 0
        for i in 0..<count where p[i] == 0x0A { lines += 1 }
        return max(lines, 1)
    }
}
