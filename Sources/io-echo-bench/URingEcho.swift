import CSystem
import GatewayIO
import Glibc

/// Echo through the ring: one multishot accept, a multishot recv per connection into provided
/// buffers, each buffer sent straight back and recycled when the send completes; everything
/// prepared during an iteration goes out with the next io_uring_enter, which also waits.
enum URingEcho {
    static func serve(listener: Int32, echoes target: Int, messageSize: Int) throws -> (syscalls: Int, echoes: Int) {
        let ring = try URing(entries: 256, completionEntries: 4096)
        let buffers = try ProvidedBuffers(ring: ring, group: 0, count: 256, bufferSize: 4096)
        var starved = StarvedReceivers()
        var clients: [Int32] = []
        var echoedBytes = 0
        ring.acceptMultishot(listener, token: URingToken(fd: listener, generation: 0, operation: .accept))
        while echoedBytes < target * messageSize {
            starved.rearm(on: ring, buffers: buffers)
            ring.submitAndWait(timeoutMillis: 5000) { c in
                switch c.operation {
                case .accept:
                    guard c.result >= 0 else { return }
                    clients.append(c.result)
                    ring.receiveMultishot(c.result, buffers: buffers, token: URingToken(fd: c.result, generation: 0, operation: .receive))
                case .receive:
                    if let bytes = buffers.take(c), let id = c.bufferID {
                        // The buffer id rides in the generation field: the send's completion recycles it.
                        ring.send(c.fd, UnsafeRawBufferPointer(bytes), token: URingToken(fd: c.fd, generation: UInt32(id), operation: .send))
                        if !c.more { ring.receiveMultishot(c.fd, buffers: buffers, token: c.token) }
                    } else if c.outOfBuffers {
                        starved.park(c.fd, token: c.token)
                    }
                case .send:
                    // Small messages on loopback always go out whole; a short send would need
                    // the rest re-sent before recycling (the gateway's write queue does that).
                    precondition(c.result > 0, "echo send failed: \(c.result)")
                    echoedBytes += Int(c.result)
                    buffers.recycle(UInt16(c.token.generation))
                default:
                    break
                }
            }
        }
        for fd in clients { ring.close(fd, token: .housekeeping) }
        ring.submitAndWait(timeoutMillis: 100) { _ in }
        return (ring.enterCalls, echoedBytes / messageSize)
    }
}
