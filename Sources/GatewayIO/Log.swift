import Glibc

/// Line-oriented logging to stderr. One write(2) per line so lines from several loops never interleave.
public enum Log {
    public static func info(_ message: String) { emit("info", message) }
    public static func warn(_ message: String) { emit("warn", message) }
    public static func error(_ message: String) { emit("error", message) }

    private static func emit(_ level: String, _ message: String) {
        let seconds = Clock.wallMillis() / 1000
        var line = "\(seconds) [\(level)] \(message)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
