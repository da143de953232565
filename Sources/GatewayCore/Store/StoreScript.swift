import COpenSSL

/// A Lua script the gateway runs in Redis: its text, for `SCRIPT LOAD` (on every new connection)
/// and for `EVAL` when a server answers `NOSCRIPT` (restarted, or `SCRIPT FLUSH`ed), and its SHA-1,
/// for `EVALSHA`, which is what each request sends.
public struct StoreScript: Sendable {
    public let source: String
    /// Lower-case hex, as `SCRIPT LOAD` answers it.
    public let sha1: [UInt8]

    public init(_ source: String) {
        self.source = source
        var digest = [UInt8](repeating: 0, count: 20)
        var length: UInt32 = 0
        var text = source
        text.withUTF8 { bytes in
            digest.withUnsafeMutableBufferPointer { out in
                precondition(EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress, &length, EVP_sha1(), nil) == 1,
                             "EVP_Digest(SHA-1) failed")
            }
        }
        sha1 = Array(KeyHash.hex(digest).utf8)
    }

    /// `EVALSHA sha numkeys` followed by `arguments` more (keys then argv): append them to the result.
    public func evalsha(keys: Int, arguments: Int) -> RESPCommand {
        var command = RESPCommand(arguments: 3 + arguments, capacity: 256)
        command.append("EVALSHA".utf8)
        command.append(sha1)
        command.append(Int64(keys))
        return command
    }

    /// The same call as `EVAL`, for a server that lost the script: copies the arguments of `evalsha`.
    public func eval(replacing evalsha: RESPCommand) -> RESPCommand? {
        guard case .value(.array(let words), _) = RESPParser.parse(evalsha.bytes), words.count >= 3 else { return nil }
        var command = RESPCommand(arguments: words.count, capacity: evalsha.bytes.count + source.utf8.count + 16)
        command.append("EVAL".utf8)
        command.append(source.utf8)
        for word in words.dropFirst(2) {
            guard case .bulk(let bytes) = word else { return nil }
            command.append(bytes)
        }
        return command
    }

    public var load: RESPCommand { RESPCommand(["SCRIPT", "LOAD", source]) }
}
