import CSystem
import Glibc

/// A signal read from a signalfd on a loop (the first one), so what it starts runs as ordinary
/// loop code rather than in a signal handler: SIGHUP reloads, SIGTERM and SIGINT drain.
final class SignalWatch: EventHandler {
    private let fd: Int32
    private let action: () -> Void
    var deadline: UInt64 = 0
    var timer = TimerLink()

    /// Must run on the main thread before any other thread starts, so every thread blocks the
    /// signal and only the signalfd receives it. nil when there is no signalfd: the signal then
    /// keeps its default action, except SIGHUP, which would kill the gateway and is ignored.
    static func block(_ signal: Int32, name: String) -> Int32? {
        let fd = csys_signal_fd(signal)
        if fd >= 0 { return fd }
        let reason = String(cString: strerror(csys_errno()))
        if signal == SIGHUP {
            Glibc.signal(SIGHUP, SIG_IGN)
            Log.warn("signalfd(\(name)): \(reason); \(name) is ignored (no reload)")
        } else {
            Log.warn("signalfd(\(name)): \(reason); \(name) stops the gateway at once (no drain)")
        }
        return nil
    }

    init(fd: Int32, loop: EventLoop, action: @escaping () -> Void) {
        self.fd = fd
        self.action = action
        loop.register(fd, self, events: CSYS_EPOLLIN | CSYS_EPOLLET)
    }

    func handleEvent(_ flags: UInt32) {
        // Deliveries of one signal that were pending together count once, as the kernel merges them.
        if csys_signal_fd_drain(fd) > 0 { action() }
    }

    func deadlineExpired() {}
}
