import Glibc

/// The `pid` file: written once the gateway is listening, removed when it exits after a drain,
/// read by `gateway --reload` to find the process to signal.
enum PidFile {
    static func write(_ path: String) throws(SystemError) {
        let text = "\(getpid())\n"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SystemError("pid file \(path): open", errno) }
        defer { close(fd) }
        let written = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        guard written == text.utf8.count else { throw SystemError("pid file \(path): write", errno) }
    }

    static func remove(_ path: String) {
        unlink(path)
    }

    /// The process id the file holds, or why there is none.
    static func read(_ path: String) -> Result<pid_t, SystemError> {
        guard let file = fopen(path, "r") else { return .failure(SystemError("pid file \(path)", errno)) }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 32)
        guard fgets(&line, Int32(line.count), file) != nil,
              let pid = pid_t(String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)),
              pid > 0 else {
            return .failure(SystemError("pid file \(path): no process id in it", EINVAL))
        }
        return .success(pid)
    }
}
