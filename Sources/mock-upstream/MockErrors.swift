/// The two error dialects of the messaging API family (README, "Error reference"):
/// snake `{"success":false,"error":{...}}` and upper `{"error":{...}}`.
enum MockDialect: Sendable {
    case snake, upper

    init?(_ text: String) {
        switch text.lowercased() {
        case "snake": self = .snake
        case "upper": self = .upper
        default: return nil
        }
    }
}

enum MockErrors {
    enum Detail {
        case string(String)
        case int(Int)
    }

    static func code(_ snake: String, _ upper: String, _ dialect: MockDialect) -> String {
        dialect == .snake ? snake : upper
    }

    /// An error body in `dialect`; `details` always carries `"hint":"from mock"` first.
    static func body(code: String, message: String, details: [(String, Detail)] = [], dialect: MockDialect) -> [UInt8] {
        var out = JSONOut()
        if dialect == .snake { out.raw("{\"success\":false,") } else { out.raw("{") }
        out.raw("\"error\":{\"code\":")
        out.string(code)
        out.raw(",\"message\":")
        out.string(message)
        out.raw(",\"details\":{\"hint\":\"from mock\"")
        for (name, value) in details {
            out.raw(",")
            out.string(name)
            out.raw(":")
            switch value {
            case .string(let s): out.string(s)
            case .int(let n): out.int(n)
            }
        }
        out.raw("}}}")
        return out.bytes
    }

    /// An nginx-style HTML error page.
    static func htmlPage(status: Int, reason: String) -> [UInt8] {
        let title = "\(status) \(reason)"
        let page = "<html>\r\n<head><title>\(title)</title></head>\r\n<body>\r\n<center><h1>\(title)</h1></center>\r\n"
            + "<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
        return Array(page.utf8)
    }
}
