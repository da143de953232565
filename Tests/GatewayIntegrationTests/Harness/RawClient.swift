import Foundation

/// A response as the client saw it on the wire.
struct WireResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.0.lowercased() == name.lowercased() }.map { $0.1 }
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    /// error.code etc. of a canonical envelope.
    var errorObject: [String: Any] { json["error"] as? [String: Any] ?? [:] }
}

/// A blocking TCP client that speaks raw bytes, so tests control every byte sent and see every
/// byte received. Deliberately independent of the gateway's own parser.
final class RawClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16, timeout: TimeInterval = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let rc = withLoopbackAddress(port) { connect(fd, $0, $1) }
        if rc != 0 {
            close(fd)
            throw HarnessError("connect to \(port) failed: errno \(errno)")
        }
        setTimeout(timeout)
    }

    func setTimeout(_ seconds: TimeInterval) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw HarnessError("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// Sends FIN: the peer reads EOF after what was sent.
    func shutdownWrite() throws {
        if shutdown(fd, Int32(SHUT_WR)) != 0 { throw HarnessError("shutdown failed: errno \(errno)") }
    }

    /// Reads more bytes; false on EOF or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// True when the server closed the connection (reads EOF) within the timeout.
    func isClosedByPeer() -> Bool {
        if !buffer.isEmpty { return false }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        if n == 0 { return true }
        if n < 0 { return errno == ECONNRESET }
        buffer.append(byte)
        return false
    }

    private func line() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0A), i > 0, buffer[i - 1] == 0x0D {
                let text = String(decoding: buffer[0..<(i - 1)], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return text
            }
            if !fill() { throw HarnessError("connection closed or timed out while reading a line; have \(String(decoding: buffer, as: UTF8.self))") }
        }
    }

    private func take(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            if !fill() { throw HarnessError("connection closed after \(buffer.count) of \(count) body bytes") }
        }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    /// The next head as it is, 1xx included: after a 101 the bytes belong to the new protocol.
    func readHead() throws -> WireResponse {
        let statusLine = try line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HarnessError("bad status line: \(statusLine)") }
        var headers: [(String, String)] = []
        while true {
            let l = try line()
            if l.isEmpty { break }
            guard let colon = l.firstIndex(of: ":") else { throw HarnessError("bad header line: \(l)") }
            headers.append((String(l[..<colon]), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return WireResponse(status: status, headers: headers, body: [])
    }

    func read(exactly count: Int) throws -> [UInt8] { try take(count) }

    /// Reads one response. `forHead`: the request was HEAD, so no body follows.
    func readResponse(forHead: Bool = false) throws -> WireResponse {
        var statusLine = try line()
        var headers: [(String, String)] = []
        while true {
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, let status = Int(parts[1]) else { throw HarnessError("bad status line: \(statusLine)") }
            headers = []
            while true {
                let l = try line()
                if l.isEmpty { break }
                guard let colon = l.firstIndex(of: ":") else { throw HarnessError("bad header line: \(l)") }
                headers.append((String(l[..<colon]), l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            if status >= 100 && status < 200 {
                statusLine = try line()
                continue
            }
            var response = WireResponse(status: status, headers: headers, body: [])
            if forHead || status == 204 || status == 304 { return response }
            if response.header("transfer-encoding")?.lowercased() == "chunked" {
                while true {
                    let sizeLine = try line()
                    guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw HarnessError("bad chunk size \(sizeLine)") }
                    if size == 0 {
                        while try !line().isEmpty {}
                        break
                    }
                    response.body += try take(size)
                    _ = try take(2)
                }
            } else if let length = response.header("content-length").flatMap({ Int($0) }) {
                response.body = try take(length)
            } else {
                while fill() {}
                response.body = buffer
                buffer = []
            }
            return response
        }
    }

    /// Everything the peer sends until it closes the connection (or the read times out).
    /// `closed` tells which of the two ended the read.
    func readUntilClose() -> (bytes: [UInt8], closed: Bool) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                continue
            }
            let closed = n == 0 || errno == ECONNRESET
            let out = buffer
            buffer = []
            return (out, closed)
        }
    }

    /// One request, one response.
    func exchange(_ request: String, forHead: Bool = false) throws -> WireResponse {
        try send(request)
        return try readResponse(forHead: forHead)
    }
}

/// A GET with the usual headers.
func get(_ path: String, headers: String = "") -> String {
    "GET \(path) HTTP/1.1\r\nHost: test\r\n\(headers)\r\n"
}

func post(_ path: String, body: String, headers: String = "") -> String {
    "POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.utf8.count)\r\n\(headers)\r\n\(body)"
}
