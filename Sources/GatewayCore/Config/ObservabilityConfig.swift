/// Where the access log goes and how its lines are written (`access_log`).
public struct AccessLogConfig: Sendable, Equatable {
    public enum Destination: Sendable, Equatable {
        case off, stderr
        /// An absolute path (relative ones are resolved against the config file's directory).
        case file(String)
    }

    /// One JSON object per line, or a space-separated line for people.
    public enum Format: String, Sendable, Equatable { case json, text }

    public var destination: Destination
    public var format: Format

    public init(destination: Destination = .off, format: Format = .json) {
        self.destination = destination
        self.format = format
    }

    public var isOn: Bool { destination != .off }
}
