/// The `Date: <IMF-fixdate>\r\n` line every response carries (RFC 9110 §6.6.1), formatted once
/// per second per loop rather than per response.
public struct HTTPDateLine {
    private var second: Int64 = .min
    private var bytes = [UInt8](repeating: 0, count: 37)

    public init() {}

    /// The line for `epochSeconds`, reformatted only when the second changed.
    public mutating func line(epochSeconds: Int64) -> [UInt8] {
        if epochSeconds != second {
            second = epochSeconds
            Self.format(epochSeconds, into: &bytes)
        }
        return bytes
    }

    private static let days: [UInt8] = Array("ThuFriSatSunMonTueWed".utf8)  // 1970-01-01 was a Thursday
    private static let months: [UInt8] = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    /// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    static func format(_ epochSeconds: Int64, into out: inout [UInt8]) {
        let dayNumber = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
        let secondOfDay = Int(epochSeconds - dayNumber * 86_400)
        let (year, month, day) = civil(fromDays: dayNumber)
        var i = 0
        func put(_ b: UInt8) { out[i] = b; i += 1 }
        func put(_ s: StaticString) { for b in UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount) { put(b) } }
        func two(_ n: Int) { put(UInt8(48 + n / 10)); put(UInt8(48 + n % 10)) }
        put("Date: ")
        let weekday = Int(((dayNumber % 7) + 7) % 7) * 3
        for k in 0..<3 { put(days[weekday + k]) }
        put(", ")
        two(day)
        put(" ")
        for k in 0..<3 { put(months[(month - 1) * 3 + k]) }
        put(" ")
        two(Int(year / 100 % 100))
        two(Int(year % 100))
        put(" ")
        two(secondOfDay / 3600)
        put(":")
        two(secondOfDay / 60 % 60)
        put(":")
        two(secondOfDay % 60)
        put(" GMT\r\n")
    }

    /// Howard Hinnant's civil_from_days: days since 1970-01-01 to a proleptic Gregorian date.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
