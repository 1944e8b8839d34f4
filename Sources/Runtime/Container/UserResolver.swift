// Resolves `--user` / the image's User ("name", "uid", "uid:gid", "name:group") against the
// container's own /etc/passwd and /etc/group, as Docker does.

public struct ResolvedUser: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
}

public enum UserResolver {
    /// `passwd`/`group` are the contents of the container's files (nil when missing).
    public static func resolve(_ spec: String?, passwd: String?, group: String?) throws -> ResolvedUser {
        guard let spec, !spec.isEmpty else { return ResolvedUser(uid: 0, gid: 0, groups: supplementary("root", passwdGID: 0, group: group)) }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        let users = parse(passwd)
        var uid: UInt32
        var gid: UInt32 = 0
        var userName: String?
        if let n = UInt32(userPart) {
            uid = n
            if let entry = users.first(where: { UInt32($0[safe: 2] ?? "") == n }) {
                gid = UInt32(entry[safe: 3] ?? "") ?? 0
                userName = entry[0]
            }
        } else if let entry = users.first(where: { $0[0] == userPart }),
                  let u = UInt32(entry[safe: 2] ?? ""), let g = UInt32(entry[safe: 3] ?? "") {
            uid = u; gid = g; userName = userPart
        } else {
            throw RuntimeError(.invalidArgument, "user \"\(userPart)\" not found in the container's /etc/passwd")
        }
        if parts.count == 2 {
            let groupPart = parts[1]
            if let n = UInt32(groupPart) {
                gid = n
            } else if let entry = parse(group).first(where: { $0[0] == groupPart }), let g = UInt32(entry[safe: 2] ?? "") {
                gid = g
            } else {
                throw RuntimeError(.invalidArgument, "group \"\(groupPart)\" not found in the container's /etc/group")
            }
        }
        let groups = userName.map { supplementary($0, passwdGID: gid, group: group) } ?? [gid]
        return ResolvedUser(uid: uid, gid: gid, groups: groups)
    }

    /// The primary gid plus every group listing the user as a member.
    private static func supplementary(_ user: String, passwdGID: UInt32, group: String?) -> [UInt32] {
        var gids = [passwdGID]
        for entry in parse(group) {
            guard let gid = UInt32(entry[safe: 2] ?? ""), let members = entry[safe: 3] else { continue }
            if members.split(separator: ",").contains(where: { $0 == user }) && !gids.contains(gid) { gids.append(gid) }
        }
        return gids
    }

    private static func parse(_ text: String?) -> [[String]] {
        guard let text else { return [] }
        return text.split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            let f = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            return f.count >= 3 ? f : nil
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
