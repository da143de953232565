import GatewayCore

/// One loop's access log buffer: each line is encoded into it, and it goes to the writer once it
/// holds 64 KiB or 100 ms after its first line, whichever comes first: never a write() per request.
final class LoopAccessLog: AccessLogSink, EventHandler {
    static let flushIntervalMs: UInt64 = 100

    private let writer: AccessLogWriter
    private let loop: EventLoop
    private var encoder: AccessLogEncoder
    private var chunk = AccessLogWriter.Chunk()
    var deadline: UInt64 = 0
    var timer = TimerLink()

    init(writer: AccessLogWriter, loop: EventLoop, encoder: AccessLogEncoder) {
        self.writer = writer
        self.loop = loop
        self.encoder = encoder
    }

    func write(_ record: AccessLogRecord) {
        encoder.append(record, to: chunk.buffer)
        chunk.lines += 1
        if chunk.buffer.readableCount >= AccessLogWriter.chunkBytes {
            handOff()
        } else if deadline == 0 {
            deadline = loop.now + Self.flushIntervalMs
            loop.deadlineChanged(self)
        }
    }

    /// A timer only: it has no descriptor.
    func handleEvent(_ flags: UInt32) {}

    func deadlineExpired() {
        deadline = 0
        handOff()
    }

    /// Now rather than within 100 ms: the configuration it logs for is gone, or the gateway is exiting.
    func handOff() {
        if deadline != 0 {
            deadline = 0
            loop.deadlineChanged(self)
        }
        if chunk.lines > 0 { chunk = writer.handOff(chunk) }
    }
}
