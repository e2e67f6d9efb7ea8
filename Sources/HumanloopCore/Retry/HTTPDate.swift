/// Parses HTTP dates in the three forms RFC 9110 asks recipients to accept:
/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
/// and asctime ("Sun Nov  6 08:49:37 1994").
///
/// Whatever the text, nothing traps: years outside 1970...9999, impossible days (31 Feb) and
/// out-of-range clock fields give nil, and the arithmetic is done on those bounded values.
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970 for an HTTP date, or nil.
    public static func unixTime(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        if parts.count == 6, parts[5] == "GMT", parts[0].hasSuffix(",") {
            // IMF-fixdate: day month year time
            return unixTime(day: parts[1], month: parts[2], year: parts[3], clock: parts[4])
        }
        if parts.count == 4, parts[3] == "GMT", parts[0].hasSuffix(",") {
            // RFC 850: dd-Mon-yy time; a two-digit year before 70 is in the 2000s.
            let date = parts[1].split(separator: "-", omittingEmptySubsequences: false)
            guard date.count == 3, date[2].utf8.count == 2, let short = Int(date[2]), short >= 0 else { return nil }
            let year = Substring(String(short < 70 ? 2000 + short : 1900 + short))
            return unixTime(day: date[0], month: date[1], year: year, clock: parts[2])
        }
        if parts.count == 5, !parts[0].hasSuffix(",") {
            // asctime: Mon d hh:mm:ss yyyy
            return unixTime(day: parts[2], month: parts[1], year: parts[4], clock: parts[3])
        }
        return nil
    }

    private static func unixTime(day dayText: Substring, month monthText: Substring, year yearText: Substring,
                                 clock clockText: Substring) -> Double? {
        guard dayText.utf8.count <= 2, yearText.utf8.count == 4,
              let day = Int(dayText), let year = Int(yearText), (1970...9999).contains(year),
              let monthIndex = months.firstIndex(of: String(monthText)),
              (1...daysIn(month: monthIndex + 1, year: year)).contains(day) else { return nil }
        let clock = clockText.split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.utf8.count == 2 }),
              let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second) else { return nil }
        // Bounded: |days| < 3e6, so the products below stay far inside Int.
        let days = daysFromCivil(year: year, month: monthIndex + 1, day: day)
        return Double(days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    /// The caller keeps `year` within 1970...9999.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
