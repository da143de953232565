/// Writes the Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE` before each
/// family's samples, label values escaped as the format requires.
public struct PrometheusText {
    public enum Kind: String { case counter, gauge, histogram }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public private(set) var text = ""

    public init() {}

    public mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escape(help, quotes: false))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        line(name, labels, String(value))
    }

    public mutating func sample(_ name: String, _ value: UInt64) { sample(name, [], value) }

    public mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        line(name, labels, value.isFinite ? "\(value)" : value.isNaN ? "NaN" : value > 0 ? "+Inf" : "-Inf")
    }

    public mutating func sample(_ name: String, _ value: Double) { sample(name, [], value) }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (i, (label, labelValue)) in labels.enumerated() {
                text += "\(i == 0 ? "" : ",")\(label)=\"\(Self.escape(labelValue, quotes: true))\""
            }
            text += "}"
        }
        text += " \(value)\n"
    }

    /// Backslash and line feed in help text; also the double quote in label values.
    static func escape(_ text: String, quotes: Bool) -> String {
        guard text.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A || (quotes && $0 == 0x22) }) else { return text }
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quotes: out += "\\\""
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
