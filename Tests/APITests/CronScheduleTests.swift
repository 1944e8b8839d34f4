import Foundation
import Testing
@testable import API

@Suite struct CronScheduleTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    /// "2024-01-05T03:00:00Z" or with an offset, "2024-03-10T03:00:00-04:00".
    static func at(_ text: String) -> Date {
        let f = ISO8601DateFormatter()
        guard let date = f.date(from: text) else { fatalError("bad test date \(text)") }
        return date
    }

    /// The next `count` scheduled times after `start`, printed in UTC.
    static func times(_ schedule: String, after start: String, count: Int = 1, in tz: TimeZone = utc) throws -> [String] {
        let s = try CronSchedule(parsing: schedule)
        var out: [String] = [], t = at(start)
        let f = ISO8601DateFormatter()
        for _ in 0..<count {
            guard let n = s.next(after: t, in: tz) else { out.append("nil"); break }
            out.append(f.string(from: n))
            t = n
        }
        return out
    }

    // MARK: Parsing

    static let bad: [(String, String)] = [
        ("", "empty schedule"),
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("0 * * * * *", "expected exactly 5 fields, found 6"),
        ("60 * * * *", "field 1 (minute): 60 is out of range 0-59"),
        ("* 24 * * *", "field 2 (hour): 24 is out of range 0-23"),
        ("* * 0 * *", "field 3 (day of month): 0 is out of range 1-31"),
        ("* * * 13 *", "field 4 (month): 13 is out of range 1-12"),
        ("* * * * 8", "field 5 (day of week): 8 is out of range 0-7"),
        ("* * * FOO *", "field 4 (month): unknown name \"FOO\""),
        ("* * * * MON-FUN", "field 5 (day of week): unknown name \"FUN\""),
        ("x * * * *", "field 1 (minute): \"x\" is not a number"),
        ("-1 * * * *", "field 1 (minute): missing number"),
        ("5-3 * * * *", "field 1 (minute): range \"5-3\" starts after it ends"),
        ("1-2-3 * * * *", "field 1 (minute): too many hyphens in \"1-2-3\""),
        ("*/5/2 * * * *", "field 1 (minute): too many slashes in \"*/5/2\""),
        ("*/0 * * * *", "field 1 (minute): step \"0\" is not a positive number"),
        ("* */x * * *", "field 2 (hour): step \"x\" is not a positive number"),
        ("* * 1,,2 * *", "field 3 (day of month): empty item in list \"1,,2\""),
        ("? * * * *", "field 1 (minute): \"?\" is only allowed in the day fields"),
        ("TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        ("CRON_TZ=America/New_York 0 * * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        ("@often", "unknown descriptor \"@often\""),
        ("@every 1.5h", "@every: unsupported duration \"1.5h\" (use whole h, m and s, e.g. 1h30m)"),
        ("@every 10ms", "@every: unsupported duration \"10ms\" (use whole h, m and s, e.g. 1h30m)"),
        ("@every 0s", "@every: duration must be positive"),
    ]

    @Test(arguments: bad)
    func rejectsWithMessage(input: String, message: String) {
        #expect(throws: CronScheduleError(message)) { try CronSchedule(parsing: input) }
    }

    static let same: [(String, String)] = [
        ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 JAN *"), ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * ?"), ("@hourly", "0 * * * *"),
        ("0 0 * * 7", "0 0 * * 0"), ("0 0 * * sun", "0 0 * * 0"), ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 * jan-Mar *", "0 0 * 1-3 *"), ("0 0 * * MON-FRI", "0 0 * * 1,2,3,4,5"),
        ("*/15 * * * *", "0,15,30,45 * * * *"), ("10/20 * * * *", "10,30,50 * * * *"),
        ("0-10/5 * * * *", "0,5,10 * * * *"), ("0 0 ? * *", "0 0 * * *"), ("  0  0 * * *\n", "0 0 * * *"),
    ]

    @Test(arguments: same)
    func spellingsOfTheSameSchedule(a: String, b: String) throws {
        #expect(try CronSchedule(parsing: a) == CronSchedule(parsing: b))
    }

    @Test func differentSchedulesDiffer() throws {
        #expect(try CronSchedule(parsing: "0 0 1 * *") != CronSchedule(parsing: "0 0 2 * *"))
        // Same days listed, but "*" keeps "both must match" and "1-31" switches to "either".
        #expect(try CronSchedule(parsing: "0 0 * * MON") != CronSchedule(parsing: "0 0 1-31 * MON"))
    }

    // MARK: next()

    @Test func everyMinuteIsStrictlyAfter() throws {
        #expect(try Self.times("* * * * *", after: "2024-01-01T10:00:00Z", count: 2) == ["2024-01-01T10:01:00Z", "2024-01-01T10:02:00Z"])
        #expect(try Self.times("* * * * *", after: "2024-01-01T10:00:30Z") == ["2024-01-01T10:01:00Z"])
    }

    @Test func stepsWrapHoursAndYears() throws {
        #expect(try Self.times("*/15 * * * *", after: "2024-01-01T10:07:00Z", count: 4)
            == ["2024-01-01T10:15:00Z", "2024-01-01T10:30:00Z", "2024-01-01T10:45:00Z", "2024-01-01T11:00:00Z"])
        #expect(try Self.times("*/15 * * * *", after: "2023-12-31T23:50:00Z") == ["2024-01-01T00:00:00Z"])
    }

    @Test func weekdaysSkipTheWeekend() throws {
        // 2024-01-05 is a Friday.
        #expect(try Self.times("30 2 * * 1-5", after: "2024-01-05T03:00:00Z", count: 2) == ["2024-01-08T02:30:00Z", "2024-01-09T02:30:00Z"])
    }

    @Test func leapDaysAndMonthLengths() throws {
        #expect(try Self.times("0 0 29 2 *", after: "2024-03-01T00:00:00Z") == ["2028-02-29T00:00:00Z"])
        // 2100 is not a leap year; 2104 is, within the 5-year horizon from 2099.
        #expect(try Self.times("0 0 29 2 *", after: "2099-01-01T00:00:00Z") == ["2104-02-29T00:00:00Z"])
        // From 2097 the next one (2104) is beyond the horizon.
        #expect(try Self.times("0 0 29 2 *", after: "2097-03-01T00:00:00Z") == ["nil"])
        #expect(try Self.times("0 0 30 2 *", after: "2024-01-01T00:00:00Z") == ["nil"])
        #expect(try Self.times("0 0 31 * *", after: "2024-01-31T00:00:00Z", count: 2) == ["2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z"])
    }

    @Test func restrictedDayFieldsAreOred() throws {
        // 2024-01-01 is a Monday and the 1st; then the Mondays, and Thursday Feb 1st.
        #expect(try Self.times("0 0 1 * MON", after: "2024-01-01T00:00:00Z", count: 6) == [
            "2024-01-08T00:00:00Z", "2024-01-15T00:00:00Z", "2024-01-22T00:00:00Z",
            "2024-01-29T00:00:00Z", "2024-02-01T00:00:00Z", "2024-02-05T00:00:00Z",
        ])
        // "*/2" counts as restricted (robfig), so odd days OR Mondays.
        // Not "Friday the 13th": the 13th, or any Friday (2024-01-05).
        #expect(try Self.times("0 0 13 * FRI", after: "2024-01-01T00:00:00Z", count: 3)
            == ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-13T00:00:00Z"])
        #expect(try Self.times("0 0 */2 * MON", after: "2024-01-01T00:00:00Z", count: 2) == ["2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z"])
    }

    @Test func unrestrictedDayFieldMeansBothMustMatch() throws {
        #expect(try Self.times("0 0 1 * *", after: "2024-01-01T00:00:00Z") == ["2024-02-01T00:00:00Z"])
        #expect(try Self.times("0 0 * * MON", after: "2024-01-01T00:00:00Z") == ["2024-01-08T00:00:00Z"])
        // Saturdays in January or July: after January 2024, the first is Saturday July 6th.
        #expect(try Self.times("0 12 * jan,JUL sat", after: "2024-01-27T12:00:00Z") == ["2024-07-06T12:00:00Z"])
    }

    @Test func sevenIsSunday() throws {
        #expect(try Self.times("0 9 * * 7", after: "2024-01-01T00:00:00Z") == ["2024-01-07T09:00:00Z"])
        #expect(try Self.times("0 9 * * 5-7", after: "2024-01-05T09:00:00Z", count: 3)
            == ["2024-01-06T09:00:00Z", "2024-01-07T09:00:00Z", "2024-01-12T09:00:00Z"])
    }

    @Test func descriptors() throws {
        #expect(try Self.times("@hourly", after: "2024-01-01T10:15:00Z") == ["2024-01-01T11:00:00Z"])
        #expect(try Self.times("@daily", after: "2024-01-01T10:00:00Z") == ["2024-01-02T00:00:00Z"])
        #expect(try Self.times("@weekly", after: "2024-01-01T00:00:00Z") == ["2024-01-07T00:00:00Z"])
        #expect(try Self.times("@monthly", after: "2024-01-15T00:00:00Z") == ["2024-02-01T00:00:00Z"])
        #expect(try Self.times("@yearly", after: "2024-01-01T00:00:00Z") == ["2025-01-01T00:00:00Z"])
    }

    @Test func everyCountsFromTheGivenTime() throws {
        let s = try CronSchedule(parsing: "@every 1h30m")
        #expect(s.next(after: Self.at("2024-01-01T10:00:20Z") + 0.5, in: Self.utc) == Self.at("2024-01-01T11:30:20Z"))
        #expect(try CronSchedule(parsing: "@every 90s").next(after: Self.at("2024-01-01T10:00:00Z"), in: Self.utc)
            == Self.at("2024-01-01T10:01:30Z"))
    }

    @Test func timeZoneShiftsTheWallClock() throws {
        #expect(try Self.times("0 9 * * *", after: "2024-01-01T00:00:00Z", in: Self.newYork) == ["2024-01-01T14:00:00Z"])
        #expect(try Self.times("0 9 * * *", after: "2024-01-01T00:00:00Z", in: TimeZone(identifier: "Asia/Kolkata")!)
            == ["2024-01-01T03:30:00Z"])
        // 9:00 on the spring-forward day is already EDT (UTC-4).
        #expect(try Self.times("0 9 * * *", after: "2024-03-09T10:00:00-05:00", in: Self.newYork) == ["2024-03-10T13:00:00Z"])
    }

    @Test func springForwardSkipsTheMissingTime() throws {
        // On 2024-03-10 New York goes from 01:59:59 EST straight to 03:00 EDT: 02:30 does not happen.
        #expect(try Self.times("30 2 * * *", after: "2024-03-08T12:00:00-05:00", count: 3, in: Self.newYork)
            == ["2024-03-09T07:30:00Z", "2024-03-11T06:30:00Z", "2024-03-12T06:30:00Z"])
        // Every minute: 01:59 EST is followed by 03:00 EDT, one real minute later.
        #expect(try Self.times("* * * * *", after: "2024-03-10T01:58:00-05:00", count: 2, in: Self.newYork)
            == ["2024-03-10T06:59:00Z", "2024-03-10T07:00:00Z"])
    }

    @Test func fallBackRepeatsTheDoubledTime() throws {
        // On 2024-11-03 01:00-01:59 happens twice, in EDT and then EST.
        #expect(try Self.times("30 1 * * *", after: "2024-11-03T00:00:00-04:00", count: 3, in: Self.newYork)
            == ["2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-04T06:30:00Z"])
        #expect(try Self.times("0 2 * * *", after: "2024-11-02T12:00:00-04:00", count: 2, in: Self.newYork)
            == ["2024-11-03T07:00:00Z", "2024-11-04T07:00:00Z"])
    }

    // MARK: mostRecent()

    @Test func mostRecentWithNoneMissed() throws {
        let daily = try CronSchedule(parsing: "0 0 * * *")
        let r = daily.mostRecent(atOrBefore: Self.at("2024-01-01T20:00:00Z"), notBefore: Self.at("2024-01-01T01:00:00Z"), in: Self.utc)
        #expect(r.latest == nil && r.missed == 0)
        let same = daily.mostRecent(atOrBefore: Self.at("2024-01-01T00:00:00Z"), notBefore: Self.at("2024-01-01T00:00:00Z"), in: Self.utc)
        #expect(same.latest == nil && same.missed == 0)
    }

    @Test func mostRecentExcludesEarliestAndIncludesNow() throws {
        let hourly = try CronSchedule(parsing: "0 * * * *")
        let earliest = Self.at("2024-01-01T10:00:00Z")
        let none = hourly.mostRecent(atOrBefore: Self.at("2024-01-01T10:59:59Z"), notBefore: earliest, in: Self.utc)
        #expect(none.latest == nil && none.missed == 0)
        let one = hourly.mostRecent(atOrBefore: Self.at("2024-01-01T11:00:00Z"), notBefore: earliest, in: Self.utc)
        #expect(one.latest == Self.at("2024-01-01T11:00:00Z") && one.missed == 1)
    }

    @Test func mostRecentCountsMany() throws {
        let r = try CronSchedule(parsing: "*/15 * * * *")
            .mostRecent(atOrBefore: Self.at("2024-01-01T12:20:00Z"), notBefore: Self.at("2024-01-01T10:00:00Z"), in: Self.utc)
        #expect(r.latest == Self.at("2024-01-01T12:15:00Z") && r.missed == 9)
        let everyMinute = try CronSchedule(parsing: "* * * * *")
        let hundred = everyMinute.mostRecent(atOrBefore: Self.at("2024-01-01T11:40:00Z"), notBefore: Self.at("2024-01-01T10:00:00Z"), in: Self.utc)
        #expect(hundred.latest == Self.at("2024-01-01T11:40:00Z") && hundred.missed == 100)
        let over = everyMinute.mostRecent(atOrBefore: Self.at("2024-01-01T11:41:00Z"), notBefore: Self.at("2024-01-01T10:00:00Z"), in: Self.utc)
        #expect(over.latest == Self.at("2024-01-01T11:41:00Z") && over.missed == CronSchedule.missedCap)
    }

    @Test func mostRecentOverYearsOfEveryMinute() throws {
        let r = try CronSchedule(parsing: "* * * * *")
            .mostRecent(atOrBefore: Self.at("2024-01-01T12:34:56Z"), notBefore: Self.at("2021-01-01T00:00:00Z"), in: Self.newYork)
        #expect(r.latest == Self.at("2024-01-01T12:34:00Z") && r.missed == 101)
    }

    /// The bisection must land on the same time as walking next() all the way.
    /// The window ends at 01:45 EST on the fall-back day, just after the second 01:30.
    @Test(arguments: ["0 */6 * * *", "30 2 * * 1-5", "0 0 1 * MON", "*/7 9-17 1 * *", "30 1 * 3,11 *", "0 12 13 * FRI"])
    func mostRecentAgreesWithWalking(schedule: String) throws {
        let s = try CronSchedule(parsing: schedule)
        let earliest = Self.at("1984-06-15T08:00:00Z"), now = Self.at("2024-11-03T06:45:00Z")
        var walked: Date?, count = 0, t = earliest
        while let n = s.next(after: t, in: Self.newYork), n <= now { walked = n; count += 1; t = n }
        let r = s.mostRecent(atOrBefore: now, notBefore: earliest, in: Self.newYork)
        #expect(count > 100)
        #expect(r.latest == walked && r.missed == CronSchedule.missedCap)
    }

    @Test func mostRecentWithEvery() throws {
        let hourly = try CronSchedule(parsing: "@every 1h")
        let r = hourly.mostRecent(atOrBefore: Self.at("2024-01-01T12:59:00Z"), notBefore: Self.at("2024-01-01T10:00:00Z"), in: Self.utc)
        #expect(r.latest == Self.at("2024-01-01T12:00:00Z") && r.missed == 2)
        let many = try CronSchedule(parsing: "@every 1m")
            .mostRecent(atOrBefore: Self.at("2024-01-01T00:00:30Z"), notBefore: Self.at("2021-01-01T00:00:10Z"), in: Self.utc)
        #expect(many.latest == Self.at("2024-01-01T00:00:10Z") && many.missed == 101)
    }

    // MARK: Calendar arithmetic

    @Test func civilDaysAgreeWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.utc
        for days in stride(from: -135_000, through: 157_000, by: 97) {  // 1600 to 2400
            let c = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(days) * 86400))
            let mine = CronSchedule.civil(fromDays: days)
            #expect(mine == (c.year!, c.month!, c.day!))
            #expect(CronSchedule.daysFromCivil(mine.year, mine.month, mine.day) == days)
        }
    }
}
