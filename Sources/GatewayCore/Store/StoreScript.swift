import COpenSSL

/// A Lua script the gateway runs in Redis: its text, for `SCRIPT LOAD` (on every new connection)
/// and for `EVAL` when a server answers `NOSCRIPT` (`SCRIPT FLUSH`ed, or a failover to a replica
/// that never loaded it), and its SHA-1, for `EVALSHA`, which is what each request sends.
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
        var command = RESPCommand(arguments: 3 + arguments, capacity: 512)
        command.append("EVALSHA".utf8)
        command.append(sha1)
        command.append(Int64(keys))
        return command
    }

}

/// Every script the gateway runs: loaded by each new connection, found again by its SHA-1.
public enum StoreScripts {
    public static let all = [LimitScripts.admit, LimitScripts.lease]

    /// `EVALSHA` bytes rewritten as `EVAL` of the same script, for a server that answered `NOSCRIPT`.
    public static func eval(replacing command: [UInt8]) -> [UInt8]? {
        guard case .value(.array(let words), _) = RESPParser.parse(command), words.count >= 3, case .bulk(let sha) = words[1],
              let script = all.first(where: { $0.sha1 == sha }) else { return nil }
        var eval = RESPCommand(arguments: words.count, capacity: command.count + script.source.utf8.count)
        eval.append("EVAL".utf8)
        eval.append(script.source.utf8)
        for word in words.dropFirst(2) {
            guard case .bulk(let bytes) = word else { return nil }
            eval.append(bytes)
        }
        return eval.bytes
    }
}
