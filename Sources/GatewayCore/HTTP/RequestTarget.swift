import Glibc

/// The request target (RFC 9112 §3.2): its form, split into authority, path and query, and the
/// in-place rewrite that gives every consumer the same canonical origin-form target.
enum RequestTarget {
    /// Splits `p[start..<end]` (visible ASCII, `query` the first `?` or -1) into the head's spans.
    /// Accepted: origin-form, and absolute-form with an http or https scheme (§3.2.2: a server
    /// MUST accept it), whose authority must be a valid `host[:port]` without userinfo.
    static func parse(_ p: UnsafePointer<UInt8>, start: Int, end: Int, query: Int, method: HTTPMethod,
                      into head: inout RequestHead) -> HTTPParseError? {
        let pathEnd = query < 0 ? end : query
        head.queryLength = end - pathEnd
        head.authorityStart = 0
        head.authorityLength = 0
        if p[start] == UInt8(ascii: "/") {
            head.pathStart = start
            head.pathLength = pathEnd - start
            return nil
        }
        // OPTIONS * asks about the server as a whole; a gateway has no such resource to route.
        if end - start == 1 && p[start] == UInt8(ascii: "*") && method == .options {
            return .malformed("asterisk-form (OPTIONS *) is not supported")
        }
        let scheme: Int
        if end - start >= 7 && Bytes.equalsLowercase(p + start, 7, "http://") {
            scheme = 7
        } else if end - start >= 8 && Bytes.equalsLowercase(p + start, 8, "https://") {
            scheme = 8
        } else {
            return .malformed("only origin-form and http(s) absolute-form request targets are accepted")
        }
        let authority = start + scheme
        var i = authority
        while i < pathEnd && p[i] != UInt8(ascii: "/") { i += 1 }
        if !HostSyntax.isValid(p + authority, i - authority) { return .malformed("invalid authority in request target") }
        head.authorityStart = authority
        head.authorityLength = i - authority
        head.pathStart = i
        head.pathLength = pathEnd - i
        return nil
    }

    /// Rewrites the target in place into normalised origin-form: an absolute-form target without a
    /// path gets `/`, the path is normalised (`PathNormalizer`), the query is moved up behind it.
    static func normalize(_ p: UnsafeMutablePointer<UInt8>, _ head: inout RequestHead) -> HTTPParseError? {
        if head.pathLength == 0 {
            // `http://host?q`: the authority moves one byte left (over the scheme's last `/`) to make
            // room for the path `/` right before the query.
            memmove(p + head.authorityStart - 1, p + head.authorityStart, head.authorityLength)
            head.authorityStart -= 1
            head.pathStart -= 1
            p[head.pathStart] = UInt8(ascii: "/")
            head.pathLength = 1
        }
        switch PathNormalizer.normalize(p + head.pathStart, count: head.pathLength) {
        case .refused(let reason):
            return .malformed(reason)
        case .normalized(let length):
            if length != head.pathLength && head.queryLength > 0 {
                memmove(p + head.pathStart + length, p + head.queryStart, head.queryLength)
            }
            head.pathLength = length
            return nil
        }
    }
}
