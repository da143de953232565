import GatewayCore

/// GET /v1/bytes/{n}: n bytes of a repeating 37-byte pattern, streamed from one fixed buffer so
/// any size costs no memory. Content-Length by default, `?chunked=1` chunked, `?close=1` close-delimited.
enum MockBytes {
    static let line: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz0123456789\n".utf8)
    /// A whole number of pattern lines (1771 x 37 = 65527 bytes), so consecutive writes continue the pattern.
    static let block: [UInt8] = Array([[UInt8]](repeating: line, count: 1771).joined())
    static let maxCount = 1 << 40

    static func serve(_ ex: MockExchange, count text: String, on conn: MockConnection) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 13, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let count = Int(text), count <= maxCount else {
            return MockRoutes.error(ex, 400, "invalid_parameter_type", "VALIDATION_ERROR",
                                    "byte count must be a non-negative integer", [("field", .string("n"))], on: conn)
        }
        let request = ex.request
        let headOnly = request.method == .head
        var framing: MockConnection.Framing = .length(count)
        if request.query["close"] == "1" {
            framing = .close
        } else if request.query["chunked"] == "1" {
            framing = request.version == .http11 ? .chunked : .close
        }
        let keepAlive: Bool
        if case .close = framing { keepAlive = false } else { keepAlive = request.keepAlive }

        let head = ByteBuffer(capacity: 512)
        conn.appendHead(to: head, status: 200, contentType: "application/octet-stream", framing: framing,
                        keepAlive: keepAlive, version: request.version)
        guard conn.writeAll(head) else { return false }
        if headOnly { return keepAlive }

        let ok = block.withUnsafeBytes { raw -> Bool in
            var remaining = count
            let frame = ByteBuffer(capacity: 32)
            while remaining > 0 {
                let n = min(remaining, raw.count)
                if case .chunked = framing {
                    frame.appendHex(n)
                    frame.append("\r\n")
                    guard conn.writeAll(frame) else { return false }
                }
                guard conn.writeAll(raw.baseAddress!, n) else { return false }
                if case .chunked = framing {
                    frame.append("\r\n")
                    guard conn.writeAll(frame) else { return false }
                }
                remaining -= n
            }
            if case .chunked = framing {
                frame.append("0\r\n\r\n")
                return conn.writeAll(frame)
            }
            return true
        }
        return ok && keepAlive
    }
}
