/// RateLimit headers (IETF httpapi draft-10 form, legacy X-RateLimit-* trio, both or none).
/// A bucket refilled at N per period is announced as its real rate, `q=N;w=<period s>`; `r` is
/// what the bucket holds now (at most its burst) and `t` the seconds until it holds one more,
/// so on a 429 `t`, Retry-After and `details.retry_after_s` name the same instant.
enum RateLimitHeaders {
    static func policyItem(name: String, _ rate: TokenRate) -> String {
        "\"\(name)\";q=\(rate.count);w=\(window(rate))"
    }

    static func window(_ rate: TokenRate) -> Int64 {
        max(1, (rate.periodMs + 999) / 1000)
    }

    /// One entry per bucket the request passed through: its policy item, rate and state.
    typealias Entry = (item: String, name: String, rate: TokenRate, status: BucketStatus)

    /// Written straight into the response's extra headers: this runs on every authenticated
    /// request, so no intermediate Strings.
    static func add(_ style: RateLimitHeaderStyle, _ first: Entry?, _ second: Entry?, to context: RequestContext) {
        if first == nil && second == nil { return }
        let out = context.extraResponseHeaders
        if style == .ietf || style == .both {
            out.append("RateLimit-Policy: ")
            forEach(first, second, separatedBy: out) { out.append($0.item) }
            out.append("\r\nRateLimit: ")
            forEach(first, second, separatedBy: out) { entry in
                out.append(byte: UInt8(ascii: "\""))
                out.append(entry.name)
                out.append("\";r=")
                out.appendDecimal(Int(entry.status.remaining))
                out.append(";t=")
                out.appendDecimal(Int(seconds(entry.status)))
            }
            out.append("\r\n")
        }
        if style == .legacy || style == .both, let tightest = tightest(first, second) {
            out.append("X-RateLimit-Limit: ")
            out.appendDecimal(Int(tightest.rate.count))
            out.append("\r\nX-RateLimit-Remaining: ")
            out.appendDecimal(Int(tightest.status.remaining))
            out.append("\r\nX-RateLimit-Reset: ")
            out.appendDecimal(Int(seconds(tightest.status)))
            out.append("\r\n")
        }
    }

    private static func seconds(_ status: BucketStatus) -> UInt64 { (status.msUntilNextToken + 999) / 1000 }

    private static func forEach(_ first: Entry?, _ second: Entry?, separatedBy out: ByteBuffer, _ body: (Entry) -> Void) {
        if let first { body(first) }
        if let second {
            if first != nil { out.append(", ") }
            body(second)
        }
    }

    private static func tightest(_ first: Entry?, _ second: Entry?) -> Entry? {
        guard let a = first else { return second }
        guard let b = second else { return a }
        return b.status.remaining < a.status.remaining ? b : a
    }
}
