import CSystem
import Glibc

/// Whether the loops can run on io_uring here, for `io_engine auto` (fall back to epoll and log
/// the reason) and for tests (skip).
package enum URingAvailability: Sendable {
    case available(URingCapabilities)
    case unavailable(reason: String)

    package var isAvailable: Bool {
        if case .available = self { return true }
        return false
    }
}

extension URing {
    /// Creates a small ring on the calling thread, checks the opcodes and features the loop uses,
    /// and runs a multishot recv with a provided buffer end to end over a socketpair (the
    /// newest piece, 6.0; multishot accept and buffer rings are 5.19). Everything it creates is
    /// gone when it returns.
    package static func availability() -> URingAvailability {
        let ring: URing
        do {
            ring = try URing(entries: 8, completionEntries: 16)
        } catch {
            return .unavailable(reason: setupFailure(error.code))
        }
        let missing = ring.capabilities.missing
        if !missing.isEmpty { return .unavailable(reason: "the kernel lacks \(missing.joined(separator: ", "))") }
        if let problem = selfTest(ring) { return .unavailable(reason: problem) }
        return .available(ring.capabilities)
    }

    private static func setupFailure(_ code: Int32) -> String {
        switch code {
        case ENOSYS:
            return "io_uring_setup: not implemented (a kernel without io_uring, or a seccomp filter such as a container runtime's)"
        case EPERM:
            // kernel.io_uring_disabled (6.6): 1 allows only members of kernel.io_uring_group, 2 nobody.
            switch readSysctl("/proc/sys/kernel/io_uring_disabled") {
            case "2": return "io_uring_setup: disabled by sysctl kernel.io_uring_disabled = 2"
            case "1": return "io_uring_setup: kernel.io_uring_disabled = 1 and this process is not in kernel.io_uring_group"
            default: return "io_uring_setup: not permitted (a seccomp filter or security module refuses it)"
            }
        case ENOMEM:
            return "io_uring_setup: out of memory (RLIMIT_MEMLOCK on kernels before 5.12)"
        default:
            return SystemError("io_uring_setup", code).description
        }
    }

    private static func selfTest(_ ring: URing) -> String? {
        let buffers: ProvidedBuffers
        do {
            buffers = try ProvidedBuffers(ring: ring, group: 0, count: 1, bufferSize: 64)
        } catch {
            return "provided buffer rings: \(error)"
        }
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            return SystemError("socketpair", csys_errno()).description
        }
        defer {
            Glibc.close(fds[0])
            Glibc.close(fds[1])
        }
        let token = URingToken(fd: fds[0], generation: 1, operation: .receive)
        ring.receiveMultishot(fds[0], buffers: buffers, token: token)
        var byte: UInt8 = 42
        _ = Glibc.write(fds[1], &byte, 1)
        var outcome: String? = "multishot recv: no completion within a second"
        var done = false
        let deadline = Clock.monotonicMillis() + 1000
        while !done && Clock.monotonicMillis() < deadline {
            ring.submitAndWait(timeoutMillis: 100) { completion in
                guard completion.token == token, !done else { return }
                if let data = buffers.take(completion) {
                    outcome = data.count == 1 && data[0] == 42 && completion.more ? nil : "multishot recv: unexpected completion"
                    buffers.recycle(completion.bufferID!)
                } else {
                    outcome = "multishot recv: \(SystemError("recv", completion.error ?? EPROTO))"
                }
                done = true
            }
        }
        // End the armed recv before the socket and buffers go, so nothing is left holding them.
        ring.cancelAll(on: fds[0])
        var ended = false
        let cancelDeadline = Clock.monotonicMillis() + 1000
        while !ended && Clock.monotonicMillis() < cancelDeadline {
            ring.submitAndWait(timeoutMillis: 100) { completion in
                if completion.token == token && !completion.more { ended = true }
                if completion.token == token, completion.bufferID != nil, buffers.take(completion) != nil {
                    buffers.recycle(completion.bufferID!)
                }
            }
        }
        return outcome
    }

    private static func readSysctl(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &bytes, bytes.count)
        if n <= 0 { return nil }
        return String(decoding: bytes[0..<n], as: UTF8.self).trimmingTrailingNewline
    }
}

private extension String {
    var trimmingTrailingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
