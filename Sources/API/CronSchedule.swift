// CronJob schedules (batch/v1 CronJob spec.schedule), read as Kubernetes reads them with
// robfig/cron v3's standard parser: five fields "minute hour day-of-month month day-of-week",
// or a descriptor such as @daily or @every 1h30m.
//
// Time semantics: a minute is scheduled when the wall clock of the given time zone, at that
// instant, reads a matching time. So across DST, as in robfig/cron:
//   - a local time skipped by spring-forward (02:30 in New York on a March Sunday) does not fire that day;
//   - a local time repeated by fall-back (01:30 in November) fires twice, once per UTC offset.
// Searches stop after about 5 years (the end of the 5th year after the start, like robfig).
//
// Differences from robfig: day of week also accepts 7 for Sunday; "?" is only accepted in the
// two day fields; an empty list item ("1,,2") is an error; @every takes whole h/m/s units only.

import Foundation

public struct CronScheduleError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public struct CronSchedule: Sendable, Equatable {
    private enum Kind: Sendable, Equatable {
        case fields(CronFields)
        /// @every: fixed interval in whole seconds, counted from the time passed to next(after:).
        case every(seconds: Int)
    }
    private let kind: Kind

    /// mostRecent() counts missed times up to this; Kubernetes gives up at "more than 100".
    public static let missedCap = 101

    public init(parsing text: String) throws(CronScheduleError) {
        let spec = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // robfig would accept these, but Kubernetes refuses them: the zone belongs in spec.timeZone.
        if spec.hasPrefix("TZ=") || spec.hasPrefix("CRON_TZ=") {
            throw CronScheduleError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        }
        if spec.isEmpty { throw CronScheduleError("empty schedule") }
        if spec.hasPrefix("@") { self = try Self.descriptor(spec); return }
        let words = spec.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 5 else { throw CronScheduleError("expected exactly 5 fields, found \(words.count)") }
        let parsed = try zip(FieldSpec.all, words).map { spec, word throws(CronScheduleError) in try spec.parse(word) }
        var weekdays = parsed[4].bits
        if weekdays.contains(7) { weekdays.remove(7); weekdays.insert(0) }  // 7 is Sunday too
        kind = .fields(CronFields(
            minutes: parsed[0].bits, hours: parsed[1].bits, daysOfMonth: parsed[2].bits,
            months: parsed[3].bits, daysOfWeek: weekdays,
            // Cron's rule: when both day fields are restricted, a day matching either one is enough.
            eitherDay: !parsed[2].star && !parsed[4].star))
    }

    private init(kind: Kind) { self.kind = kind }

    private static func descriptor(_ spec: String) throws(CronScheduleError) -> CronSchedule {
        switch spec {
        case "@yearly", "@annually": return try CronSchedule(parsing: "0 0 1 1 *")
        case "@monthly": return try CronSchedule(parsing: "0 0 1 * *")
        case "@weekly": return try CronSchedule(parsing: "0 0 * * 0")
        case "@daily", "@midnight": return try CronSchedule(parsing: "0 0 * * *")
        case "@hourly": return try CronSchedule(parsing: "0 * * * *")
        default: break
        }
        guard spec.hasPrefix("@every ") else { throw CronScheduleError("unknown descriptor \"\(spec)\"") }
        let duration = spec.dropFirst("@every ".count).trimmingCharacters(in: .whitespaces)
        let unsupported = CronScheduleError("@every: unsupported duration \"\(duration)\" (use whole h, m and s, e.g. 1h30m)")
        // Go durations in their simple form only: whole numbers with h, m or s ("1h30m", "90s").
        var seconds = 0, number = ""
        for ch in duration {
            if ch.isASCII, ch.isNumber { number.append(ch); continue }
            guard let unit = ["h": 3600, "m": 60, "s": 1][String(ch)], let n = Int(number), n <= 1_000_000 else { throw unsupported }
            seconds += n * unit
            number = ""
        }
        guard number.isEmpty, !duration.isEmpty else { throw unsupported }
        guard seconds > 0 else { throw CronScheduleError("@every: duration must be positive") }
        return CronSchedule(kind: .every(seconds: seconds))
    }

    /// The first scheduled time strictly after `date`, or nil if there is none within about 5 years.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        if case .every(let seconds) = kind {  // robfig: drop the fraction of a second, add the interval
            return Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down) + Double(seconds))
        }
        guard case .fields(let fields) = kind else { return nil }
        // Walk the timeline one stretch of constant UTC offset at a time: inside a stretch, wall
        // time and UTC move together, so the search can run on plain wall-clock minutes.
        var offset = timeZone.secondsFromGMT(for: date)
        var from = Self.wallMinute(date, offset, .down) + 1
        var stretchStart = date
        let (year, _, _) = Self.civil(fromDays: Self.floorDiv(from, 1440))
        let limit = Self.daysFromCivil(year + 6, 1, 1) * 1440
        while true {
            let transition = timeZone.nextDaylightSavingTimeTransition(after: stretchStart)
            let stretchEnd = transition.map { Self.wallMinute($0, offset, .up) } ?? limit
            if let match = fields.firstMatch(from: from, before: min(stretchEnd, limit)) {
                return Date(timeIntervalSince1970: Double(match * 60 - offset))
            }
            guard let transition, stretchEnd < limit, transition > stretchStart else { return nil }
            stretchStart = transition
            offset = timeZone.secondsFromGMT(for: transition)
            from = Self.wallMinute(transition, offset, .up)
        }
    }

    /// The latest scheduled time t with earliest < t <= now, and how many scheduled times fell in
    /// that window (counting stops at `missedCap`, which stands for "more than 100").
    public func mostRecent(atOrBefore now: Date, notBefore earliest: Date, in tz: TimeZone) -> (latest: Date?, missed: Int) {
        guard earliest < now else { return (nil, 0) }
        if case .every(let seconds) = kind {
            // Times are earliest + k·interval (whole seconds), so this is arithmetic.
            let start = earliest.timeIntervalSince1970.rounded(.down)
            let count = Int(((now.timeIntervalSince1970 - start) / Double(seconds)).rounded(.down))
            guard count > 0 else { return (nil, 0) }
            return (Date(timeIntervalSince1970: start + Double(count * seconds)), min(count, Self.missedCap))
        }
        var latest: Date?, count = 0
        while count < Self.missedCap, let t = next(after: latest ?? earliest, in: tz), t <= now {
            latest = t
            count += 1
        }
        // Too many to walk (an every-minute schedule over years): find the last one by bisection.
        if count == Self.missedCap, let known = latest { latest = last(atOrBefore: now, from: known, in: tz) }
        return (latest, count)
    }

    /// The last scheduled time <= now, given `known`, one that is <= now. Each round halves the
    /// gap between what is found and what is ruled out, so this costs O(log(now - known)) calls.
    private func last(atOrBefore now: Date, from known: Date, in tz: TimeZone) -> Date {
        var found = known  // scheduled, and <= now
        var bound = now    // nothing is scheduled in (bound, now]
        while let t = next(after: found, in: tz), t <= now {
            found = t
            let middle = found + bound.timeIntervalSince(found) / 2
            if let m = next(after: middle, in: tz), m <= now { found = m } else { bound = middle }
        }
        return found
    }

    // MARK: Wall-clock arithmetic (minutes and days counted from 1970-01-01 00:00, proleptic Gregorian)

    private static func wallMinute(_ date: Date, _ offset: Int, _ rule: FloatingPointRoundingRule) -> Int {
        Int(((date.timeIntervalSince1970 + Double(offset)) / 60).rounded(rule))
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

    /// Day number of a civil date (Howard Hinnant's days_from_civil: years start in March, so
    /// February's leap day is the last day of a year and the month lengths follow a pattern).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of daysFromCivil.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153  // 0 = March
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        if month == 2 { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28 }
        return [4, 6, 9, 11].contains(month) ? 30 : 31
    }
}

/// A set of small numbers (0...63) as bits.
private struct CronBits: Sendable, Equatable {
    var raw: UInt64 = 0
    func contains(_ n: Int) -> Bool { raw & (1 << UInt64(n)) != 0 }
    mutating func insert(_ n: Int) { raw |= 1 << UInt64(n) }
    mutating func remove(_ n: Int) { raw &= ~(1 << UInt64(n)) }
    /// The smallest member >= n, if any.
    func first(atOrAfter n: Int) -> Int? {
        let rest = raw & (UInt64.max << UInt64(n))
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }
}

/// The five parsed fields.
private struct CronFields: Sendable, Equatable {
    var minutes, hours, daysOfMonth, months, daysOfWeek: CronBits
    var eitherDay: Bool

    /// The first matching wall-clock minute >= `start` and < `limit`. Whole months, days and
    /// hours that cannot match are skipped at once, so sparse schedules cost few steps.
    func firstMatch(from start: Int, before limit: Int) -> Int? {
        let startDay = CronSchedule.floorDiv(start, 1440), minuteOfDay = start - startDay * 1440
        var (year, month, day) = CronSchedule.civil(fromDays: startDay)
        var (hour, minute) = (minuteOfDay / 60, minuteOfDay % 60)
        func nextMonth() {
            (year, month) = month == 12 ? (year + 1, 1) : (year, month + 1)
            (day, hour, minute) = (1, 0, 0)
        }
        func nextDay() {
            (day, hour, minute) = (day + 1, 0, 0)
            if day > CronSchedule.daysInMonth(year, month) { nextMonth() }
        }
        while true {
            let dayNumber = CronSchedule.daysFromCivil(year, month, day)
            let current = (dayNumber * 24 + hour) * 60 + minute
            if current >= limit { return nil }
            if !months.contains(month) { nextMonth(); continue }
            let weekday = (dayNumber % 7 + 11) % 7  // day 0 was a Thursday (4); +7 keeps it positive
            if !dayMatches(day: day, weekday: weekday) { nextDay(); continue }
            if !hours.contains(hour) {
                if let h = hours.first(atOrAfter: hour) { (hour, minute) = (h, 0) } else { nextDay() }
                continue
            }
            if !minutes.contains(minute) {
                if let m = minutes.first(atOrAfter: minute) { minute = m } else if hour == 23 { nextDay() } else { (hour, minute) = (hour + 1, 0) }
                continue
            }
            return current
        }
    }

    private func dayMatches(day: Int, weekday: Int) -> Bool {
        let byDate = daysOfMonth.contains(day), byWeekday = daysOfWeek.contains(weekday)
        return eitherDay ? byDate || byWeekday : byDate && byWeekday
    }
}

/// How one of the five fields is read.
private struct FieldSpec {
    let number: Int, name: String
    let min: Int, max: Int
    /// The top of "*" and "a/n": 6 for day of week, although 7 may be written for Sunday.
    let top: Int
    /// Names for min, min+1, ... (months from 1, weekdays from 0).
    let names: [String]

    static let all = [
        FieldSpec(number: 1, name: "minute", min: 0, max: 59, top: 59, names: []),
        FieldSpec(number: 2, name: "hour", min: 0, max: 23, top: 23, names: []),
        FieldSpec(number: 3, name: "day of month", min: 1, max: 31, top: 31, names: []),
        FieldSpec(number: 4, name: "month", min: 1, max: 12, top: 12,
                  names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        FieldSpec(number: 5, name: "day of week", min: 0, max: 7, top: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    private func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }

    private func error(_ why: String) -> CronScheduleError { CronScheduleError("field \(number) (\(name)): \(why)") }

    /// Parses a comma-separated list of items: "*", "?", "n", "a-b", each optionally "/step".
    /// `star` tells whether the field is unrestricted ("*" or "?", with no step above 1; robfig's rule).
    func parse(_ text: String) throws(CronScheduleError) -> (bits: CronBits, star: Bool) {
        var bits = CronBits(), star = false
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw error("empty item in list \"\(text)\"") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw error("too many slashes in \"\(item)\"") }
            var step = 1
            if parts.count == 2 {
                guard isDigits(parts[1]), let n = Int(parts[1]), n > 0 else {
                    throw error("step \"\(parts[1])\" is not a positive number")
                }
                step = n
            }
            var low = min, high = top
            if parts[0] == "*" || parts[0] == "?" {
                if parts[0] == "?" && number != 3 && number != 5 { throw error("\"?\" is only allowed in the day fields") }
                if step == 1 { star = true }
            } else {
                let ends = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2 else { throw error("too many hyphens in \"\(item)\"") }
                low = try value(ends[0])
                // "a" alone is just a; "a/n" runs from a to the top, by n.
                high = ends.count == 2 ? try value(ends[1]) : (parts.count == 2 ? Swift.max(low, top) : low)
                guard low <= high else { throw error("range \"\(parts[0])\" starts after it ends") }
            }
            for n in stride(from: low, through: high, by: step) { bits.insert(n) }
        }
        return (bits, star)
    }

    private func value(_ word: Substring) throws(CronScheduleError) -> Int {
        if word.isEmpty { throw error("missing number") }
        if isDigits(word) {
            guard let n = Int(word), n >= min, n <= max else { throw error("\(word) is out of range \(min)-\(max)") }
            return n
        }
        if let index = names.firstIndex(of: word.uppercased()) { return min + index }
        throw error(names.isEmpty ? "\"\(word)\" is not a number" : "unknown name \"\(word)\"")
    }
}
