#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCurl

/// Reads HTTP dates in the three forms RFC 9110 asks recipients to accept:
/// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
/// and asctime ("Sun Nov  6 08:49:37 1994").
///
/// libcurl's `curl_getdate` reads the date. It is lenient: it takes impossible days ("31 Feb"
/// becomes 2 March), a missing "GMT", trailing words and other forms. So the text must also have
/// the shape of one of the three forms, with a four-digit year from 1970 on (two digits in
/// RFC 850), and the date libcurl read must carry the day, month, year and clock written in the
/// text. Whatever the text, nothing traps.
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Seconds since 1970 for an HTTP date, or nil.
    public static func unixTime(_ text: String) -> Double? {
        guard let fields = fields(text) else { return nil }
        let time = curl_getdate(text, nil)
        guard time >= 0, isTime(time, of: fields) else { return nil }
        return Double(time)
    }

    /// The date and clock as written: day, month (1-12), year, and the clock's three fields.
    private struct Fields {
        var day: Int
        var month: Int
        /// Four digits; nil for RFC 850's two (libcurl chooses the century).
        var year: Int?
        var twoDigitYear: Int
        var clock: [Int]
    }

    /// The fields of `text` when it has the shape of one of the three forms, else nil.
    private static func fields(_ text: String) -> Fields? {
        let parts = text.split(separator: " ")
        if parts.count == 6, parts[5] == "GMT", parts[0].hasSuffix(",") {
            // IMF-fixdate: day month year time
            return fields(day: parts[1], month: parts[2], year: parts[3], clock: parts[4])
        }
        if parts.count == 4, parts[3] == "GMT", parts[0].hasSuffix(",") {
            // RFC 850: dd-Mon-yy time
            let date = parts[1].split(separator: "-", omittingEmptySubsequences: false)
            guard date.count == 3 else { return nil }
            return fields(day: date[0], month: date[1], year: date[2], clock: parts[2])
        }
        if parts.count == 5, !parts[0].hasSuffix(",") {
            // asctime: Mon d hh:mm:ss yyyy
            return fields(day: parts[2], month: parts[1], year: parts[4], clock: parts[3])
        }
        return nil
    }

    private static func fields(day dayText: Substring, month monthText: Substring, year yearText: Substring,
                               clock clockText: Substring) -> Fields? {
        let isDigits = { (text: Substring) in !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
        guard isDigits(dayText), dayText.utf8.count <= 2, let day = Int(dayText),
              isDigits(yearText), yearText.utf8.count == 4 || yearText.utf8.count == 2, let year = Int(yearText),
              let monthIndex = months.firstIndex(of: String(monthText)) else { return nil }
        let clock = clockText.split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.utf8.count == 2 && isDigits($0) }) else { return nil }
        let four = yearText.utf8.count == 4
        if four && year < 1970 { return nil }
        return Fields(day: day, month: monthIndex + 1, year: four ? year : nil, twoDigitYear: year % 100,
                      clock: clock.map { Int($0)! })
    }

    /// True when `time` is the moment `fields` write (a leap second, ":60", is the next minute's
    /// first second).
    private static func isTime(_ time: time_t, of fields: Fields) -> Bool {
        var clock = fields.clock
        var moment = time
        if clock[2] == 60 {
            clock[2] = 59
            moment -= 1
        }
        var calendar = tm()
        guard gmtime_r(&moment, &calendar) != nil else { return false }
        let year = Int(calendar.tm_year) + 1900
        return Int(calendar.tm_mday) == fields.day && Int(calendar.tm_mon) + 1 == fields.month
            && (fields.year.map { $0 == year } ?? (year % 100 == fields.twoDigitYear))
            && [Int(calendar.tm_hour), Int(calendar.tm_min), Int(calendar.tm_sec)] == clock
    }
}
