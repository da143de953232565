/// Value syntaxes of the client-policy directives.
extension ConfigValues {
    static let maxRateCount: Int64 = 1_000_000
    static let maxBurst: Int64 = 10_000_000

    /// `100/m` (also /s, /h, /d): tokens per period, in 1...1,000,000 per period.
    static func rate(_ text: String) -> (count: Int64, periodMs: Int64)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = integer(String(parts[0])), (1...maxRateCount).contains(count) else { return nil }
        switch parts[1] {
        case "s": return (count, 1000)
        case "m": return (count, 60_000)
        case "h": return (count, 3_600_000)
        case "d": return (count, 86_400_000)
        default: return nil
        }
    }

    /// RFC 3339 `2027-01-01T00:00:00Z` (or with `+02:00`, or a bare date meaning its UTC midnight)
    /// as ms since the epoch.
    static func timestampMs(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ at: Int, _ count: Int) -> Int64? {
            guard at + count <= b.count else { return nil }
            var value: Int64 = 0
            for byte in b[at..<at + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ at: Int, _ expected: Character) -> Bool { at < b.count && b[at] == expected.asciiValue! }
        guard let year = number(0, 4), byte(4, "-"), let month = number(5, 2), byte(7, "-"), let day = number(8, 2),
              (1...12).contains(month), (1...daysInMonth(year, month)).contains(day) else { return nil }
        let midnight = daysFromCivil(year, month, day) * 86_400_000
        if b.count == 10 { return midnight }
        guard byte(10, "T") || byte(10, "t"), let hour = number(11, 2), byte(13, ":"), let minute = number(14, 2),
              byte(16, ":"), let second = number(17, 2), hour < 24, minute < 60, second < 60 else { return nil }
        let local = midnight + ((hour * 60 + minute) * 60 + second) * 1000
        if b.count == 20 && (byte(19, "Z") || byte(19, "z")) { return local }
        guard b.count == 25, byte(19, "+") || byte(19, "-"), let offsetHour = number(20, 2), byte(22, ":"),
              let offsetMinute = number(23, 2), offsetHour < 24, offsetMinute < 60 else { return nil }
        let offset = (offsetHour * 60 + offsetMinute) * 60_000
        return byte(19, "+") ? local - offset : local + offset
    }

    /// `HH:MM` as ms after midnight.
    static func timeOfDayMs(_ text: String) -> Int64? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.utf8.count == 2 }), let h = integer(String(parts[0])),
              let m = integer(String(parts[1])), h < 24, m < 60 else { return nil }
        return (h * 60 + m) * 60_000
    }

    /// A realm goes inside a quoted-string as is: printable ASCII without `"` and `\`, which would need escaping.
    static func isRealm(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count) && text.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C }
    }

    /// Plan and scope names: `[A-Za-z0-9_.:-]+`.
    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in isAlphanumeric(byte) || "_.:-".utf8.contains(byte) }
    }

    private static func daysInMonth(_ year: Int64, _ month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
