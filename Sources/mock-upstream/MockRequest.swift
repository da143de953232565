import GatewayCore

/// One parsed request head, copied out of the input buffer so the buffer can move on.
struct MockRequest {
    var method: HTTPMethod
    var methodText: String
    var target: String
    var path: String
    var query: MockQuery
    var headers: [(name: [UInt8], value: [UInt8])]
    var version: HTTPVersion
    var keepAlive: Bool
    var framing: BodyFraming
    var expectContinue: Bool

    init(head: RequestHead, bytes p: UnsafePointer<UInt8>) {
        method = head.method
        methodText = String(decoding: UnsafeBufferPointer(start: p + head.methodStart, count: head.methodLength), as: UTF8.self)
        target = String(decoding: UnsafeBufferPointer(start: p + head.targetStart, count: head.targetLength), as: UTF8.self)
        path = String(decoding: UnsafeBufferPointer(start: p + head.pathStart, count: head.pathLength), as: UTF8.self)
        let queryStart = head.queryStart + 1
        let queryLength = head.queryLength - 1
        query = queryLength > 0
            ? MockQuery(UnsafeBufferPointer(start: p + queryStart, count: queryLength))
            : MockQuery()
        headers = head.facts.fields.map { f in
            (Array(UnsafeBufferPointer(start: p + Int(f.nameStart), count: Int(f.nameLength))),
             Array(UnsafeBufferPointer(start: p + Int(f.valueStart), count: Int(f.valueLength))))
        }
        version = head.version
        keepAlive = head.keepAlive
        framing = head.framing
        expectContinue = head.expectContinue
    }
}

/// `a=1&b=x%20y+z`: split on & and =, %XX and + decoded in names and values. First occurrence wins.
struct MockQuery {
    private(set) var pairs: [(String, String)] = []

    init() {}

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        for part in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let eq = part.firstIndex(of: UInt8(ascii: "=")) {
                pairs.append((Self.decode(part[part.startIndex..<eq]), Self.decode(part[(eq + 1)...])))
            } else {
                pairs.append((Self.decode(part[...]), ""))
            }
        }
    }

    subscript(name: String) -> String? {
        for (k, v) in pairs where k == name { return v }
        return nil
    }

    func int(_ name: String) -> Int? {
        guard let text = self[name], !text.isEmpty, text.utf8.count <= 18 else { return nil }
        return Int(text)
    }

    static func decode(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        while i < s.endIndex {
            let b = s[i]
            if b == UInt8(ascii: "+") {
                out.append(0x20)
            } else if b == UInt8(ascii: "%"), i + 2 < s.endIndex,
                      let hi = hexValue(s[i + 1]), let lo = hexValue(s[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
                continue
            } else {
                out.append(b)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - 48
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - 87
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - 55
        default: return nil
        }
    }
}
