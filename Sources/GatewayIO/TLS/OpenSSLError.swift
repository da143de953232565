import COpenSSL
import Glibc

/// OpenSSL reports why a call failed on a per-thread error queue; these turn it into text for
/// config errors, log lines and the `details` of a 502.
enum OpenSSLError {
    /// OpenSSL 3 marks an errno (a file that is missing or unreadable) with this bit.
    private static let systemFlag: UInt = 0x8000_0000

    /// Every queued error, oldest first, as "library: reason" without repeats; an errno is given
    /// as its own text and the "system lib" entries that only echo it are left out. The queue is
    /// left empty.
    static func drain(or fallback: String = "unknown OpenSSL error") -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text: String
            if code & systemFlag != 0 {
                text = String(cString: strerror(Int32(truncatingIfNeeded: code & (systemFlag - 1))))
            } else {
                text = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)"
                if text == "system lib" { continue }
                if let library = ERR_lib_error_string(code).map({ String(cString: $0) }) { text = "\(library): \(text)" }
            }
            if !reasons.contains(text) { reasons.append(text) }
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }

    /// Forgets whatever earlier calls on this thread left queued, so the next failure's text is its own.
    static func clear() { ERR_clear_error() }
}
