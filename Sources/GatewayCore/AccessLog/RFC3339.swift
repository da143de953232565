/// `2026-11-30T12:00:00.123Z`: RFC 3339 in UTC with milliseconds, as the access log writes it.
public enum RFC3339 {
    public static func append(wallMillis: UInt64, to out: ByteBuffer) {
        let seconds = Int64(wallMillis / 1000)
        let days = seconds / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = HTTPDateLine.civil(fromDays: days)
        out.reserve(24)
        digits(Int(year), 4, out)
        out.append(byte: UInt8(ascii: "-"))
        digits(month, 2, out)
        out.append(byte: UInt8(ascii: "-"))
        digits(day, 2, out)
        out.append(byte: UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2, out)
        out.append(byte: UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, out)
        out.append(byte: UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, out)
        out.append(byte: UInt8(ascii: "."))
        digits(Int(wallMillis % 1000), 3, out)
        out.append(byte: UInt8(ascii: "Z"))
    }

    private static func digits(_ value: Int, _ width: Int, _ out: ByteBuffer) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            out.append(byte: UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
