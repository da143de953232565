import GatewayCore
import Glibc

/// `gateway --reload --config FILE`: finds the running gateway through the `pid` file the
/// configuration names and sends it SIGHUP. The caller has validated the file first, so a
/// configuration that would be refused is reported here rather than only in the gateway's log.
public enum ReloadRequest {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The process signalled.
    public static func send(_ config: GatewayConfig) -> Result<pid_t, Failure> {
        guard let path = config.pidFile else {
            return .failure(Failure(description: "\(config.sourceFile) has no 'pid PATH;' to find the running gateway by; "
                                    + "add one (and restart), or send SIGHUP to the gateway yourself"))
        }
        let pid: pid_t
        switch PidFile.read(path) {
        case .success(let value): pid = value
        case .failure(let error): return .failure(Failure(description: "\(error); is the gateway running?"))
        }
        guard kill(pid, SIGHUP) == 0 else {
            let reason = errno == ESRCH ? "no such process (the pid file is stale)" : String(cString: strerror(errno))
            return .failure(Failure(description: "cannot signal process \(pid) from \(path): \(reason)"))
        }
        return .success(pid)
    }
}
