/// Renders a stored response as the answer to a retry: the stored status, headers and body, plus
/// `Idempotent-Replayed: true` and the retry's own X-Request-Id. The body is replayed byte for
/// byte, so a JSON error envelope in it still names the request that actually executed.
public enum IdempotencyReplay {
    /// Status line and headers, ending with the blank line; send `response.body` after it.
    public static func writeHead(_ response: StoredResponse, requestID: UnsafeRawBufferPointer,
                                 connection: ProxyHeadWriter.ConnectionDirective,
                                 extraHeaders: UnsafeRawBufferPointer, into out: ByteBuffer) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(response.status)
        out.append(byte: 0x20)
        out.append(response.reason)
        out.append("\r\n")
        out.append(response.headerLines)
        out.append("Idempotent-Replayed: true\r\nX-Request-Id: ")
        out.append(requestID)
        out.append("\r\n")
        out.append(extraHeaders)
        connection.append(to: out)
        out.append("Content-Length: ")
        out.appendDecimal(response.body.count)
        out.append("\r\n\r\n")
    }

    /// Head and body in one buffer.
    public static func write(_ response: StoredResponse, requestID: UnsafeRawBufferPointer,
                             connection: ProxyHeadWriter.ConnectionDirective,
                             extraHeaders: UnsafeRawBufferPointer, into out: ByteBuffer) {
        writeHead(response, requestID: requestID, connection: connection, extraHeaders: extraHeaders, into: out)
        out.append(response.body)
    }
}
