import Glibc

/// Line-oriented logging to stderr. One write(2) per line so lines from several loops never interleave.
public enum Log {
    public static func info(_ message: String) { emit("info", message) }
    public static func warn(_ message: String) { emit("warn", message) }
    public static func error(_ message: String) { emit("error", message) }

    private static func emit(_ level: String, _ message: String) {
        var line = "\(timestamp()) [\(level)] \(message)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// UTC, ISO 8601 with milliseconds, e.g. 2026-11-25T17:11:04.123Z.
    private static func timestamp() -> String {
        let millis = Clock.wallMillis()
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
    }
}
