/// Writes access log lines into a loop's buffer, straight from an `AccessLogRecord`: no String is
/// built per request. JSON lines escape every value (paths and ids come from clients); text lines
/// write bytes outside printable ASCII, quotes and backslashes as `\xHH`, so a line stays one line.
public enum AccessLogEncoder {
    public static func append(_ record: AccessLogRecord, format: AccessLogConfig.Format, to out: ByteBuffer) {
        switch format {
        case .json: json(record, out)
        case .text: text(record, out)
        }
    }

    private static func json(_ r: AccessLogRecord, _ out: ByteBuffer) {
        out.append("{\"time\":\"")
        RFC3339.append(wallMillis: r.wallMillis, to: out)
        out.append("\",\"request_id\":")
        r.requestID.withUnsafeBytes { quoted($0, out) }
        out.append(",\"client\":")
        r.client.withUnsafeBytes { quoted($0, out) }
        r.request.withUnsafeBytes { bytes in
            let parsed = r.methodLength > 0
            out.append(",\"method\":")
            if parsed { quoted(UnsafeRawBufferPointer(rebasing: bytes[..<r.methodLength]), out) } else { out.append("null") }
            out.append(",\"path\":")
            if parsed { quoted(UnsafeRawBufferPointer(rebasing: bytes[r.methodLength...]), out) } else { out.append("null") }
        }
        out.append(",\"route\":")
        quoted(r.route, out)
        out.append(",\"status\":")
        out.appendDecimal(r.status)
        out.append(",\"error\":")
        quoted(r.error?.snakeCode, out)
        out.append(",\"key\":")
        if let fingerprint = r.keyFingerprint {
            out.append(byte: UInt8(ascii: "\""))
            hex(fingerprint, out)
            out.append(byte: UInt8(ascii: "\""))
        } else {
            out.append("null")
        }
        out.append(",\"upstream\":")
        quoted(r.upstream, out)
        out.append(",\"server\":")
        quoted(r.server, out)
        out.append(",\"upstream_us\":")
        number(r.upstreamMicros.map(Int.init), out)
        out.append(",\"total_us\":")
        out.appendDecimal(Int(r.totalMicros))
        out.append(",\"bytes_in\":")
        out.appendDecimal(Int(r.bytesIn))
        out.append(",\"bytes_out\":")
        out.appendDecimal(Int(r.bytesOut))
        out.append(",\"idempotency\":\"")
        out.append(r.idempotency.logValue)
        out.append("\",\"ratelimit_remaining\":")
        number(r.rateLimitRemaining, out)
        out.append("}\n")
    }

    private static func text(_ r: AccessLogRecord, _ out: ByteBuffer) {
        RFC3339.append(wallMillis: r.wallMillis, to: out)
        out.append(byte: 0x20)
        r.client.withUnsafeBytes { plain($0, out) }
        r.request.withUnsafeBytes { bytes in
            if r.methodLength > 0 {
                out.append(byte: 0x20)
                plain(UnsafeRawBufferPointer(rebasing: bytes[..<r.methodLength]), out)
                out.append(byte: 0x20)
                plain(UnsafeRawBufferPointer(rebasing: bytes[r.methodLength...]), out)
            } else {
                out.append(" - -")
            }
        }
        out.append(byte: 0x20)
        out.appendDecimal(r.status)
        out.append(byte: 0x20)
        out.appendDecimal(Int(r.totalMicros))
        out.append("us id=")
        r.requestID.withUnsafeBytes { plain($0, out) }
        out.append(" route=")
        plain(r.route, out)
        out.append(" error=")
        plain(r.error?.snakeCode, out)
        out.append(" key=")
        if let fingerprint = r.keyFingerprint { hex(fingerprint, out) } else { out.append("-") }
        out.append(" upstream=")
        plain(r.upstream, out)
        out.append(" server=")
        plain(r.server, out)
        out.append(" upstream_us=")
        if let micros = r.upstreamMicros { out.appendDecimal(Int(micros)) } else { out.append("-") }
        out.append(" in=")
        out.appendDecimal(Int(r.bytesIn))
        out.append(" out=")
        out.appendDecimal(Int(r.bytesOut))
        out.append(" idempotency=")
        out.append(r.idempotency.logValue)
        out.append(" ratelimit_remaining=")
        if let remaining = r.rateLimitRemaining { out.appendDecimal(remaining) } else { out.append("-") }
        out.append(byte: 0x0A)
    }

    // MARK: Values

    private static func quoted(_ text: String?, _ out: ByteBuffer) {
        guard var text else { return out.append("null") }
        text.withUTF8 { quoted(UnsafeRawBufferPointer($0), out) }
    }

    /// A JSON string: runs of plain ASCII are copied whole; quotes, backslashes and control
    /// characters are escaped; ill-formed UTF-8 becomes U+FFFD, so the line is always valid JSON.
    private static func quoted(_ bytes: UnsafeRawBufferPointer, _ out: ByteBuffer) {
        out.append(byte: UInt8(ascii: "\""))
        let utf8 = bytes.bindMemory(to: UInt8.self)
        var i = 0, run = 0
        while i < utf8.count {
            let b = utf8[i]
            if b >= 0x20 && b < 0x80 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                i += 1
                continue
            }
            if i > run { out.append(UnsafeRawBufferPointer(rebasing: bytes[run..<i])) }
            if b < 0x80 {
                out.append(byte: UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte: b)
                default:
                    out.append("u00")
                    out.append(byte: hexDigits[Int(b >> 4)])
                    out.append(byte: hexDigits[Int(b & 0xF)])
                }
                i += 1
            } else {
                let length = JSONEscaping.validSequenceLength(utf8, at: i)
                if length > 0 {
                    out.append(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
                    i += length
                } else {
                    out.append(JSONEscaping.replacementCharacter)
                    i += max(1, -length)
                }
            }
            run = i
        }
        if utf8.count > run { out.append(UnsafeRawBufferPointer(rebasing: bytes[run...])) }
        out.append(byte: UInt8(ascii: "\""))
    }

    private static func number(_ value: Int?, _ out: ByteBuffer) {
        if let value { out.appendDecimal(value) } else { out.append("null") }
    }

    private static func plain(_ text: String?, _ out: ByteBuffer) {
        guard var text, !text.isEmpty else { return out.append("-") }
        text.withUTF8 { plain(UnsafeRawBufferPointer($0), out) }
    }

    private static func plain(_ bytes: UnsafeRawBufferPointer, _ out: ByteBuffer) {
        if bytes.isEmpty { return out.append("-") }
        for b in bytes {
            if b > 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                out.append(byte: b)
            } else {
                out.append("\\x")
                out.append(byte: hexDigits[Int(b >> 4)])
                out.append(byte: hexDigits[Int(b & 0xF)])
            }
        }
    }

    private static func hex(_ value: UInt32, _ out: ByteBuffer) {
        var shift = 28
        while shift >= 0 {
            out.append(byte: hexDigits[Int((value >> UInt32(shift)) & 0xF)])
            shift -= 4
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
