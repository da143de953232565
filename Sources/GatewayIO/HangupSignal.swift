import CSystem
import Glibc

/// SIGHUP, which kills a process by default, is read from a signalfd on the first loop: the place
/// a configuration reload will start from once there is one. Until then it is logged and ignored.
final class HangupSignal: EventHandler {
    private let fd: Int32
    var deadline: UInt64 = 0
    var timer = TimerLink()

    /// Must run on the main thread before the worker threads start, so every thread blocks SIGHUP.
    static func block() -> Int32 {
        let fd = csys_signal_fd(SIGHUP)
        if fd < 0 {
            // Without a signalfd SIGHUP can still be made harmless, just not reported.
            signal(SIGHUP, SIG_IGN)
            Log.warn("signalfd(SIGHUP): \(String(cString: strerror(csys_errno()))); ignoring SIGHUP silently")
        }
        return fd
    }

    init?(fd: Int32, loop: EventLoop) {
        guard fd >= 0 else { return nil }
        self.fd = fd
        loop.register(fd, self, events: CSYS_EPOLLIN | CSYS_EPOLLET)
    }

    func handleEvent(_ flags: UInt32) {
        if csys_signal_fd_drain(fd) > 0 { Log.warn("reload is not supported yet; ignoring SIGHUP") }
    }

    func deadlineExpired() {}
}
