/// Serialises the heads the gateway sends on: the request to the upstream and the response to
/// the client. Header lines are copied byte-for-byte from the parsed message, minus hop-by-hop ones.
public enum ProxyHeadWriter {
    /// What the gateway adds to every forwarded request.
    public struct ForwardingFacts {
        public var clientAddress: UnsafeRawBufferPointer
        public var requestID: UnsafeRawBufferPointer
        public var proto: StaticString
        /// Sent as Host when the client sent none (HTTP/1.0): the upstream speaks HTTP/1.1, which requires it.
        public var defaultHost: UnsafeRawBufferPointer

        public init(clientAddress: UnsafeRawBufferPointer, requestID: UnsafeRawBufferPointer, proto: StaticString,
                    defaultHost: UnsafeRawBufferPointer) {
            self.clientAddress = clientAddress
            self.requestID = requestID
            self.proto = proto
            self.defaultHost = defaultHost
        }
    }

    /// Writes the request head for the upstream. `framing` is the body framing the gateway will send.
    /// The target is written in origin-form (path + query); run `normalizeTarget` first.
    /// `upgrade`: the client's Upgrade field, passed on (with `Connection: upgrade`) when the route
    /// lets that protocol through; every other hop-by-hop field is dropped as usual.
    public static func writeRequest(_ head: RequestHead, from p: UnsafePointer<UInt8>, framing: BodyFraming,
                                    facts: ForwardingFacts, upgrade: HeaderField? = nil, into out: ByteBuffer) {
        out.append(p + head.methodStart, count: head.methodLength)
        out.append(byte: 0x20)
        out.append(p + head.targetStart, count: head.targetLength)
        out.append(" HTTP/1.1\r\n")
        let absoluteForm = head.authorityLength > 0
        if absoluteForm {
            // RFC 9112 §3.2.2: the target's authority replaces the Host the client sent.
            out.append("Host: ")
            out.append(p + head.authorityStart, count: head.authorityLength)
            out.append("\r\n")
        } else if head.facts.first(.host) == nil {
            out.append("Host: ")
            out.append(facts.defaultHost)
            out.append("\r\n")
        }
        for field in head.facts.fields {
            switch field.known {
            case .xRequestId, .xForwardedProto, .xForwardedFor:
                continue
            case .host where absoluteForm:
                continue
            default:
                if field.known.isDroppedWhenForwarding || isNamedByConnection(field, head.facts, p) { continue }
            }
            appendField(field, p, out)
        }
        // Keep the incoming chain and append ourselves, like nginx's $proxy_add_x_forwarded_for.
        // Several field lines are one list (RFC 9110 §5.3): all of them are kept, in order.
        out.append("X-Forwarded-For: ")
        for prior in head.facts.fields where prior.known == .xForwardedFor && prior.valueLength > 0 {
            out.append(p + Int(prior.valueStart), count: Int(prior.valueLength))
            out.append(", ")
        }
        out.append(facts.clientAddress)
        out.append("\r\nX-Forwarded-Proto: ")
        out.append(facts.proto)
        out.append("\r\nX-Request-Id: ")
        out.append(facts.requestID)
        out.append("\r\n")
        if let upgrade {
            appendField(upgrade, p, out)
            out.append("Connection: upgrade\r\n")
        }
        appendFraming(framing, out)
        out.append("\r\n")
    }

    /// Writes an upstream's `101 Switching Protocols` for the client: its fields minus the hop-by-hop
    /// ones, its Upgrade field kept and `Connection: upgrade`, no framing (the bytes that follow
    /// belong to the new protocol).
    public static func writeSwitchingProtocols(_ head: ResponseHead, from p: UnsafePointer<UInt8>,
                                               requestID: UnsafeRawBufferPointer, extraHeaders: UnsafeRawBufferPointer,
                                               into out: ByteBuffer) {
        out.append("HTTP/1.1 101 ")
        out.append(p + head.reasonStart, count: head.reasonLength)
        out.append("\r\n")
        for field in head.facts.fields where field.known == .upgrade || isRelayed(field, head.facts, p) {
            appendField(field, p, out)
        }
        out.append("Connection: upgrade\r\nX-Request-Id: ")
        out.append(requestID)
        out.append("\r\n")
        out.append(extraHeaders)
        out.append("\r\n")
    }

    /// Writes the response head for the client from an upstream response head.
    /// `extraHeaders` are complete header lines (each ending in CRLF) added by the gateway: its
    /// own `Date` (like nginx, the upstream's is replaced) and the policy stages' headers.
    public static func writeResponse(_ head: ResponseHead, from p: UnsafePointer<UInt8>, framing: BodyFraming,
                                     requestID: UnsafeRawBufferPointer, connection: ConnectionDirective,
                                     extraHeaders: UnsafeRawBufferPointer, preserveContentLength: Bool = false,
                                     into out: ByteBuffer) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(head.status)
        out.append(byte: 0x20)
        out.append(p + head.reasonStart, count: head.reasonLength)
        out.append("\r\n")
        for field in head.facts.fields {
            if preserveContentLength && field.known == .contentLength {
                appendField(field, p, out)
                continue
            }
            if isRelayed(field, head.facts, p) { appendField(field, p, out) }
        }
        appendTail(framing: framing, requestID: requestID, connection: connection, extraHeaders: extraHeaders, out)
    }

    /// Writes a complete head for a response the gateway generates itself.
    public static func writeLocalResponse(status: Int, reason: StaticString, contentLength: Int,
                                          requestID: UnsafeRawBufferPointer, connection: ConnectionDirective,
                                          extraHeaders: UnsafeRawBufferPointer, into out: ByteBuffer) {
        out.append("HTTP/1.1 ")
        out.appendDecimal(status)
        out.append(byte: 0x20)
        out.append(reason)
        out.append("\r\nContent-Type: application/json\r\n")
        appendTail(framing: .length(Int64(contentLength)), requestID: requestID, connection: connection,
                   extraHeaders: extraHeaders, out)
    }

    public enum ConnectionDirective {
        case none, keepAlive, close

        /// What a response must say for the connection to end up `keep`-alive or closed:
        /// HTTP/1.1 keeps by default; HTTP/1.0 only when told.
        public init(keep: Bool, clientVersion: HTTPVersion) {
            self = keep ? (clientVersion == .http10 ? .keepAlive : .none) : .close
        }

        public func append(to out: ByteBuffer) {
            switch self {
            case .none: break
            case .keepAlive: out.append("Connection: keep-alive\r\n")
            case .close: out.append("Connection: close\r\n")
            }
        }
    }

    private static func appendTail(framing: BodyFraming, requestID: UnsafeRawBufferPointer, connection: ConnectionDirective,
                                   extraHeaders: UnsafeRawBufferPointer, _ out: ByteBuffer) {
        out.append("X-Request-Id: ")
        out.append(requestID)
        out.append("\r\n")
        out.append(extraHeaders)
        connection.append(to: out)
        appendFraming(framing, out)
        out.append("\r\n")
    }

    private static func appendFraming(_ framing: BodyFraming, _ out: ByteBuffer) {
        switch framing {
        case .length(let n):
            out.append("Content-Length: ")
            out.appendDecimal(Int(n))
            out.append("\r\n")
        case .chunked:
            out.append("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
    }

    private static func appendField(_ field: HeaderField, _ p: UnsafePointer<UInt8>, _ out: ByteBuffer) {
        out.appendField(name: p + Int(field.nameStart), Int(field.nameLength), value: p + Int(field.valueStart), Int(field.valueLength))
    }

    /// Whether an upstream response field reaches the client as is (the idempotency recorder
    /// stores what does): not hop-by-hop or framing, not X-Request-Id or Date, which the gateway writes.
    public static func isRelayed(_ field: HeaderField, _ facts: HeaderFacts, _ p: UnsafePointer<UInt8>) -> Bool {
        !(field.known == .xRequestId || field.known == .date || field.known.isDroppedWhenForwarding
          || isNamedByConnection(field, facts, p))
    }

    /// RFC 9110 §7.6.1: headers listed in Connection are hop-by-hop as well.
    static func isNamedByConnection(_ field: HeaderField, _ facts: HeaderFacts, _ p: UnsafePointer<UInt8>) -> Bool {
        if !facts.connectionNamesOthers || field.known != .other { return false }
        let name = p + Int(field.nameStart)
        let nameLength = Int(field.nameLength)
        for connection in facts.fields where connection.known == .connection {
            var named = false
            Bytes.forEachListElement(p + Int(connection.valueStart), Int(connection.valueLength)) { token, length in
                if length == nameLength && (0..<length).allSatisfy({ ByteClass.lower(token[$0]) == ByteClass.lower(name[$0]) }) {
                    named = true
                }
            }
            if named { return true }
        }
        return false
    }
}
