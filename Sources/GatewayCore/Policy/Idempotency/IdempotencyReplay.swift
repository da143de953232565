/// Renders a stored response as the answer to a retry: the stored status and header section
/// (which ends with the original request's X-Request-Id: a replay is that response, so its id
/// matches the `request_id` of a stored error envelope), `Idempotent-Replayed: true`, then what
/// is fresh for every response (`Date`, `RateLimit*`, connection and framing), and the body byte
/// for byte.
public enum IdempotencyReplay {
    /// Status line and headers, ending with the blank line; send `response.body` after it.
    /// `extraHeaders` are this response's own lines (Date, RateLimit...).
    public static func writeHead(_ response: StoredResponse, connection: ProxyHeadWriter.ConnectionDirective,
                                 extraHeaders: UnsafeRawBufferPointer, into out: ByteBuffer) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(response.status)
        out.append(byte: 0x20)
        out.append(response.reason)
        out.append("\r\n")
        out.append(response.headerLines)
        out.append("Idempotent-Replayed: true\r\n")
        out.append(extraHeaders)
        connection.append(to: out)
        out.append("Content-Length: ")
        out.appendDecimal(response.body.count)
        out.append("\r\n\r\n")
    }

    /// Head and body in one buffer.
    public static func write(_ response: StoredResponse, connection: ProxyHeadWriter.ConnectionDirective,
                             extraHeaders: UnsafeRawBufferPointer, into out: ByteBuffer) {
        writeHead(response, connection: connection, extraHeaders: extraHeaders, into: out)
        out.append(response.body)
    }
}
