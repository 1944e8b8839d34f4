// Kubernetes' time formats in one place: Time ("2026-11-25T11:25:00Z"), MicroTime (6 fraction
// digits, Leases) and the 9-digit form of CRI logs, all UTC; parsing keeps any fraction.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum KubeTime {
    /// RFC 3339 UTC with `fractionDigits` (0, 6 or 9) digits after the seconds.
    public static func format(_ d: Date = Date(), fractionDigits: Int = 0) -> String {
        var t = time_t(d.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        var s = "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))"
        if fractionDigits > 0 {
            var scale = 1.0
            for _ in 0..<fractionDigits { scale *= 10 }
            let fraction = Int64((d.timeIntervalSince1970 - d.timeIntervalSince1970.rounded(.down)) * scale)
            let digits = String(fraction)
            s += "." + String(repeating: "0", count: max(0, fractionDigits - digits.count)) + digits
        }
        return s + "Z"
    }

    /// Any RFC 3339 UTC time Kubernetes writes (a fraction, if present, is kept).
    public static func parse(_ s: String) -> Date? {
        let b = Array(s.utf8)
        guard b.count >= 19 else { return nil }
        func num(_ from: Int, _ n: Int) -> Int32? { Int32(String(decoding: b[from..<(from + n)], as: UTF8.self)) }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let sec = num(17, 2) else { return nil }
        var tmv = tm()
        tmv.tm_year = y - 1900; tmv.tm_mon = mo - 1; tmv.tm_mday = d; tmv.tm_hour = h; tmv.tm_min = mi; tmv.tm_sec = sec
        var fraction = 0.0
        if b.count > 20, b[19] == UInt8(ascii: "."),
           let f = Double("0." + String(decoding: b[20...].prefix { $0 >= 48 && $0 <= 57 }, as: UTF8.self)) {
            fraction = f
        }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tmv)) + fraction)
    }
}
