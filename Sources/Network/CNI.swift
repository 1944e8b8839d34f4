// CNI (spec 1.0) from the runtime's side: a network configuration list run plugin by plugin
// (ADD in order with each result passed on as prevResult, DEL in reverse), each plugin an
// executable found in the bin dirs, given its config on stdin and the CNI_* variables. Errors are
// the plugin's own {code, msg, details}.
import API
import Foundation

public struct CNIError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// What ADD reports: the interfaces' IPs (the pod IP is the first).
public struct CNIResult: Sendable, Equatable {
    public var ips: [String]          // "10.244.1.5/24"
    public var raw: JSONValue
    public var podIP: String? { ips.first.map { String($0.split(separator: "/").first ?? "") } }
}

public struct CNIRuntime: Sendable {
    public var binDirs: [String]
    public init(binDirs: [String]) { self.binDirs = binDirs }

    /// Plugins that take part in an ADD/DEL, with capability args filled in (portMappings).
    /// portmap is left out when there are no port mappings: its ADD would do nothing and its DEL
    /// reads the whole nat table, two plugin runs per pod without hostPorts.
    func pluginConfigs(_ list: JSONValue, runtimeConfig: JSONValue?) -> [JSONValue] {
        let name = list["name"] ?? "", version = list["cniVersion"] ?? "1.0.0"
        let mapsPorts = runtimeConfig?["portMappings"]?.arrayValue?.isEmpty == false
        return (list["plugins"]?.arrayValue ?? []).compactMap { plugin in
            if plugin["type"] == "portmap" && !mapsPorts { return nil }
            var p = plugin
            p["name"] = name
            p["cniVersion"] = version
            if let caps = plugin["capabilities"]?.objectValue, let rc = runtimeConfig?.objectValue {
                var chosen = JSONObject()
                for (k, v) in rc where caps[k]?.boolValue == true { chosen[k] = v }
                if !chosen.isEmpty { p["runtimeConfig"] = .object(chosen) }
            }
            return p
        }
    }

    public func add(list: JSONValue, containerID: String, netns: String, ifName: String = "eth0",
                    runtimeConfig: JSONValue? = nil) throws -> CNIResult {
        var prev: JSONValue?
        for var config in pluginConfigs(list, runtimeConfig: runtimeConfig) {
            if let prev { config["prevResult"] = prev }
            prev = try invoke(config, command: "ADD", containerID: containerID, netns: netns, ifName: ifName)
        }
        let result = prev ?? .object(JSONObject())
        let ips = (result["ips"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue }
        return CNIResult(ips: ips, raw: result)
    }

    /// DEL in reverse order; every plugin runs even if one fails (the first error is thrown after).
    public func del(list: JSONValue, containerID: String, netns: String, ifName: String = "eth0",
                    prevResult: JSONValue? = nil, runtimeConfig: JSONValue? = nil) throws {
        var firstError: Error?
        for var config in pluginConfigs(list, runtimeConfig: runtimeConfig).reversed() {
            if let prevResult { config["prevResult"] = prevResult }
            do { _ = try invoke(config, command: "DEL", containerID: containerID, netns: netns, ifName: ifName) } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// Runs one plugin; its stdout (the result, or an error object).
    func invoke(_ config: JSONValue, command: String, containerID: String, netns: String, ifName: String) throws -> JSONValue {
        guard let type = config["type"]?.stringValue, !type.contains("/") else { throw CNIError("CNI config without a plugin type") }
        guard let binary = binDirs.map({ $0 + "/" + type }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CNIError("CNI plugin \"\(type)\" not found in \(binDirs.joined(separator: ":"))")
        }
        let env = ["CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns, "CNI_IFNAME": ifName,
                   "CNI_PATH": binDirs.joined(separator: ":"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let r = HostCommand.run(binary, input: config.serialized(), environment: env)
        let out = Array(r.stdout.utf8)
        let parsed = out.isEmpty ? JSONValue.object(JSONObject()) : ((try? JSONValue.parse(out)) ?? .null)
        if r.status != 0 {
            let msg = parsed["msg"]?.stringValue ?? (r.stdout.isEmpty ? r.stderr : r.stdout)
            let details = parsed["details"]?.stringValue.map { " (\($0))" } ?? ""
            throw CNIError("CNI \(type) \(command) failed: \(msg)\(details)")
        }
        return parsed
    }
}

/// The network a node writes when its CNI config dir has none: a bridge per node with
/// host-local addresses from the node's podCIDR, portmap for hostPorts. No ipMasq: the bridge
/// plugin would masquerade everything outside this node's /24, other nodes' pods included; the
/// node agent masquerades only what leaves the cluster CIDR.
public enum DefaultNetwork {
    public static func conflist(bridge: String, podCIDR: String, ipamDir: String) -> JSONValue {
        ["cniVersion": "1.0.0", "name": "skiff",
         "plugins": [
            ["type": "bridge", "bridge": .string(bridge), "isGateway": true, "ipMasq": false, "hairpinMode": true,
             "ipam": ["type": "host-local", "ranges": [[["subnet": .string(podCIDR)]]], "routes": [["dst": "0.0.0.0/0"]],
                      "dataDir": .string(ipamDir)]],
            ["type": "portmap", "capabilities": ["portMappings": true], "snat": true],
         ]]
    }


    /// The first *.conflist (or *.conf, wrapped as a list) in `dir`, by name.
    public static func load(_ dir: String) throws -> JSONValue? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        guard let name = names.first(where: { $0.hasSuffix(".conflist") || $0.hasSuffix(".conf") || $0.hasSuffix(".json") }) else { return nil }
        guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { return nil }
        let config: JSONValue
        do { config = try JSONValue.parse(Array(data)) } catch { throw CNIError("CNI config \(dir)/\(name): \(error)") }
        if config["plugins"] != nil { return config }
        return ["cniVersion": config["cniVersion"] ?? "1.0.0", "name": config["name"] ?? "net", "plugins": [config]]
    }
}
