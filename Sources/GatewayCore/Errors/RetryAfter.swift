/// `Retry-After` (RFC 9110 §10.2.3) normalised to whole seconds from now.
public enum RetryAfter {
    /// Upper bound so a hostile or broken upstream cannot park clients forever.
    public static let maxSeconds = 365 * 24 * 3600

    /// Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate; also accept RFC 850 and asctime forms), relative to `nowEpochSeconds`.
    /// Returns whole seconds >= 0 (dates in the past -> 0), nil if unparsable. Caps absurd values at 1 year.
    public static func seconds(from value: UnsafeRawBufferPointer, nowEpochSeconds: Int64) -> Int? {
        var scanner = DateScanner(bytes: value)
        scanner.trim()
        guard !scanner.atEnd else { return nil }
        if let delta = scanner.deltaSeconds() { return delta }
        guard let epoch = scanner.httpDate(nowEpochSeconds: nowEpochSeconds) else { return nil }
        let (difference, overflow) = epoch.subtractingReportingOverflow(nowEpochSeconds)
        if overflow { return epoch > nowEpochSeconds ? maxSeconds : 0 }
        return Int(min(max(difference, 0), Int64(maxSeconds)))
    }
}

private struct DateScanner {
    let bytes: UnsafeRawBufferPointer
    var position = 0
    var end: Int

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.end = bytes.count
    }

    var atEnd: Bool { position == end }

    mutating func trim() {
        while position < end, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
        while end > position, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
    }

    /// All digits: delta-seconds. Any digit run too long for an Int is absurd, hence the cap.
    func deltaSeconds() -> Int? {
        var value = 0
        for i in position..<end {
            guard let digit = digitValue(bytes[i]) else { return nil }
            value = min(value * 10 + digit, RetryAfter.maxSeconds + 1)
        }
        return min(value, RetryAfter.maxSeconds)
    }

    /// IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`,
    /// asctime `Sun Nov  6 08:49:37 1994`, as seconds since the epoch.
    mutating func httpDate(nowEpochSeconds: Int64) -> Int64? {
        let name = letters()
        if consume(UInt8(ascii: ",")) {
            guard consume(0x20), let day = digits(exactly: 2) else { return nil }
            if consume(0x20) {
                guard Self.shortDays.contains(name), let month = month(), consume(0x20),
                      let year = digits(exactly: 4), consume(0x20), let time = time(), gmt() else { return nil }
                return epoch(year: year, month: month, day: day, time: time)
            }
            guard Self.longDays.contains(name), consume(UInt8(ascii: "-")), let month = month(),
                  consume(UInt8(ascii: "-")), let yy = digits(exactly: 2), consume(0x20), let time = time(), gmt() else { return nil }
            return epoch(year: Self.fullYear(yy, nowEpochSeconds: nowEpochSeconds), month: month, day: day, time: time)
        }
        guard Self.shortDays.contains(name), consume(0x20), let month = month(), consume(0x20) else { return nil }
        _ = consume(0x20)
        guard let day = digits(min: 1, max: 2), consume(0x20), let time = time(), consume(0x20),
              let year = digits(exactly: 4), atEnd else { return nil }
        return epoch(year: year, month: month, day: day, time: time)
    }

    private static let shortDays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    private static let longDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 9110: a two-digit year more than 50 years in the future means the most recent past year with those digits.
    private static func fullYear(_ yy: Int, nowEpochSeconds: Int64) -> Int {
        let nowYear = civilYear(daysSinceEpoch: Int(nowEpochSeconds / 86_400))
        var year = nowYear - nowYear % 100 + yy
        if year > nowYear + 50 { year -= 100 }
        return year
    }

    private mutating func letters() -> String {
        let start = position
        while position < end, (bytes[position] | 0x20) >= UInt8(ascii: "a"), (bytes[position] | 0x20) <= UInt8(ascii: "z") {
            position += 1
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private mutating func month() -> Int? {
        guard let index = Self.months.firstIndex(of: letters()) else { return nil }
        return index + 1
    }

    private mutating func time() -> (Int, Int, Int)? {
        guard let h = digits(exactly: 2), h < 24, consume(UInt8(ascii: ":")),
              let m = digits(exactly: 2), m < 60, consume(UInt8(ascii: ":")),
              let s = digits(exactly: 2), s <= 60 else { return nil }
        return (h, m, s)
    }

    private mutating func gmt() -> Bool {
        consume(0x20) && letters() == "GMT" && atEnd
    }

    private mutating func consume(_ b: UInt8) -> Bool {
        guard position < end, bytes[position] == b else { return false }
        position += 1
        return true
    }

    private mutating func digits(exactly count: Int) -> Int? { digits(min: count, max: count) }

    private mutating func digits(min: Int, max: Int) -> Int? {
        var value = 0, count = 0
        while count < max, position < end, let digit = digitValue(bytes[position]) {
            value = value * 10 + digit
            count += 1
            position += 1
        }
        return count >= min ? value : nil
    }

    private func digitValue(_ b: UInt8) -> Int? {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") ? Int(b - UInt8(ascii: "0")) : nil
    }

    private func epoch(year: Int, month: Int, day: Int, time: (Int, Int, Int)) -> Int64? {
        guard day >= 1, day <= Self.daysInMonth(year: year, month: month) else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400 + Int64(time.0 * 3600 + time.1 * 60 + time.2)
    }

    private static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days_from_civil: proleptic Gregorian date to days since 1970-01-01.
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The inverse's year part (civil_from_days), enough to resolve RFC 850's two-digit years.
    private static func civilYear(daysSinceEpoch: Int) -> Int {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        return yoe + era * 400 + (mp >= 10 ? 1 : 0)
    }
}
