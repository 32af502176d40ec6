import Foundation

/// Shifts DA and DT values by a whole number of days, so intervals between dates stay exact.
/// A value it cannot read is not kept: it returns nil and the caller empties the element.
public struct DateShifter: Sendable {
    public let days: Int

    public init(days: Int) {
        self.days = days
    }

    /// "YYYYMMDD" (one value) -> shifted "YYYYMMDD".
    public func shiftDate(_ value: String) -> String? {
        guard value.utf8.count == 8, value.utf8.allSatisfy(Self.isDigit),
              let year = Int(value.prefix(4)), let month = Int(value.dropFirst(4).prefix(2)),
              let day = Int(value.suffix(2)),
              let julian = Self.julianDay(year: year, month: month, day: day) else { return nil }
        let (y, m, d) = Self.civil(fromJulianDay: julian + days)
        guard (1...9999).contains(y) else { return nil }
        return Self.digits(y, 4) + Self.digits(m, 2) + Self.digits(d, 2)
    }

    /// "YYYYMMDD[HHMMSS[.F]][&ZZXX]": the date part is shifted, the rest kept. Values with
    /// less than a full date cannot be shifted by days and are dropped.
    public func shiftDateTime(_ value: String) -> String? {
        let bytes = value.utf8
        guard bytes.count >= 8, let date = shiftDate(String(decoding: bytes.prefix(8), as: UTF8.self)) else { return nil }
        let rest = bytes.dropFirst(8)
        // digits, "." "+" "-"
        guard rest.allSatisfy({ Self.isDigit($0) || $0 == 0x2E || $0 == 0x2B || $0 == 0x2D }) else { return nil }
        return date + String(decoding: rest, as: UTF8.self)
    }

    /// Age at a date, as an AS value ("045Y", "011M", "020D").
    public static func age(birth: String, at date: String) -> String? {
        func parts(_ s: String) -> (Int, Int, Int)? {
            guard s.utf8.count == 8, s.utf8.allSatisfy(isDigit), let y = Int(s.prefix(4)),
                  let m = Int(s.dropFirst(4).prefix(2)), let d = Int(s.suffix(2)),
                  julianDay(year: y, month: m, day: d) != nil else { return nil }
            return (y, m, d)
        }
        guard let (by, bm, bd) = parts(birth), let (y, m, d) = parts(date),
              let start = julianDay(year: by, month: bm, day: bd), let end = julianDay(year: y, month: m, day: d),
              end >= start else { return nil }
        var years = y - by
        if (m, d) < (bm, bd) { years -= 1 }
        if years >= 2 { return digits(min(years, 999), 3) + "Y" }
        let months = (y - by) * 12 + (m - bm) - (d < bd ? 1 : 0)
        if months >= 1 { return digits(months, 3) + "M" }
        return digits(end - start, 3) + "D"
    }

    /// A non-negative number zero-padded to `width` digits (String(format:) goes through
    /// NSString and showed in the profile).
    package static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    package static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    package static func julianDay(year: Int, month: Int, day: Int) -> Int? {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        let a = (14 - month) / 12
        let y = year + 4800 - a
        let m = month + 12 * a - 3
        return day + (153 * m + 2) / 5 + 365 * y + y / 4 - y / 100 + y / 400 - 32045
    }

    package static func civil(fromJulianDay jd: Int) -> (Int, Int, Int) {
        let a = jd + 32044
        let b = (4 * a + 3) / 146097
        let c = a - 146097 * b / 4
        let d = (4 * c + 3) / 1461
        let e = c - 1461 * d / 4
        let m = (5 * e + 2) / 153
        return (100 * b + d - 4800 + m / 10, m + 3 - 12 * (m / 10), e - (153 * m + 2) / 5 + 1)
    }

    package static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
