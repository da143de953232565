#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension GatewayConfig {
    /// Reads, parses and validates the config file at `path`; includes resolve relative to its directory.
    public static func load(path: String) throws(ConfigError) -> GatewayConfig {
        let text = try ConfigLoader.read(path, at: SourceLocation(file: path, line: 1, column: 1))
        return try parse(text: text, file: path, baseDirectory: ConfigLoader.directory(of: path))
    }

    /// Parses and validates config text; `file` names it in errors and `baseDirectory` anchors relative includes.
    public static func parse(text: String, file: String, baseDirectory: String) throws(ConfigError) -> GatewayConfig {
        var loader = ConfigLoader()
        let directives = try loader.expand(ConfigParser.parse(text: text, file: file), baseDirectory: baseDirectory)
        return try ConfigBuilder.build(directives, file: file, baseDirectory: baseDirectory)
    }
}

/// Splices `include PATH;` directives with the directives of the named files.
struct ConfigLoader {
    /// Files currently being included, to turn an include cycle into an error instead of a hang.
    private var stack: [String] = []

    mutating func expand(_ directives: [ConfigDirective], baseDirectory: String) throws(ConfigError) -> [ConfigDirective] {
        var result: [ConfigDirective] = []
        for directive in directives {
            // Malformed includes are left for the rule check, which reports them like any directive.
            guard directive.name == "include", directive.block == nil, directive.arguments.count == 1 else {
                result.append(directive)
                continue
            }
            let arg = directive.arguments[0]
            let path = arg.text.hasPrefix("/") || baseDirectory.isEmpty ? arg.text : baseDirectory + "/" + arg.text
            guard !stack.contains(path) else {
                throw ConfigError(arg.location, "'include': \(path) includes itself; expected no include cycles")
            }
            guard stack.count < 16 else {
                throw ConfigError(arg.location, "'include': includes nested too deeply; expected at most 16 levels")
            }
            let text = try Self.read(path, at: arg.location)
            stack.append(path)
            result += try expand(ConfigParser.parse(text: text, file: path), baseDirectory: Self.directory(of: path))
            stack.removeLast()
        }
        return result
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Whole file as text; failures are reported at `location`, the place that asked for the file.
    static func read(_ path: String, at location: SourceLocation) throws(ConfigError) -> String {
        String(decoding: try readBytes(path, at: location), as: UTF8.self)
    }

    static func readBytes(_ path: String, at location: SourceLocation) throws(ConfigError) -> [UInt8] {
        guard let handle = fopen(path, "rb") else {
            throw ConfigError(location, "cannot open config file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
            bytes += chunk[0..<count]
            if count < chunk.count { break }
        }
        guard ferror(handle) == 0 else {
            throw ConfigError(location, "cannot read config file \(path): \(String(cString: strerror(errno)))")
        }
        return bytes
    }
}
