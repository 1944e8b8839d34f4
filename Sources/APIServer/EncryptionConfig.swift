// Which resources are encrypted at rest and with which keys: Kubernetes' EncryptionConfiguration
// (apiserver.config.k8s.io/v1; aesgcm and identity providers), or a file holding one base64 key
// (`skiff master --encryption-key-file`: Secrets sealed with it, older plain ones still read).
import API
import Foundation
import Store
import YAML

public enum EncryptionConfig {
    /// The store `base` wrapped as `path` says. Errors name the file and what is wrong in it.
    public static func wrap(_ base: any KeyValueStore, configFile path: String) throws -> any KeyValueStore {
        guard let data = FileManager.default.contents(atPath: path) else { throw StoreError(.invalid, "\(path): cannot read the encryption config") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if !text.contains("EncryptionConfiguration") {
            guard let key = Data(base64Encoded: text) else {
                throw StoreError(.invalid, "\(path): expected a base64 key (head -c 32 /dev/urandom | base64) or an EncryptionConfiguration")
            }
            let k = try named(EncryptionKey(name: "key1", secret: Array(key)), path)
            return EncryptingStore(base, prefixes: ["/secrets/"], keys: [k], readsPlain: true)
        }
        let docs: [JSONValue]
        do { docs = try YAMLDocuments.parse(text) } catch { throw StoreError(.invalid, "\(path): \(error)") }
        guard let config = docs.first, config["kind"] == "EncryptionConfiguration" else {
            throw StoreError(.invalid, "\(path): not an EncryptionConfiguration")
        }
        var store = base
        for (i, rule) in (config["resources"]?.arrayValue ?? []).enumerated() {
            let resources = (rule["resources"]?.arrayValue ?? []).compactMap(\.stringValue)
            guard !resources.isEmpty else { throw StoreError(.invalid, "\(path): resources[\(i)].resources is empty") }
            let prefixes = try resources.map { r -> String in
                let parts = r.split(separator: ".", maxSplits: 1).map(String.init)
                guard ResourceRegistry.all.contains(where: { $0.plural == parts[0] && $0.group == (parts.count > 1 ? parts[1] : "") }) else {
                    throw StoreError(.invalid, "\(path): resources[\(i)]: unknown resource \"\(r)\"")
                }
                return "/" + r + "/"
            }
            var keys: [EncryptionKey] = [], readsPlain = false, sealing = true
            for (j, provider) in (rule["providers"]?.arrayValue ?? []).enumerated() {
                if provider["identity"] != nil {
                    readsPlain = true
                    if j == 0 { sealing = false }   // identity first: new writes stay plain
                } else if let aes = provider["aesgcm"] {
                    for (k, key) in (aes["keys"]?.arrayValue ?? []).enumerated() {
                        guard let name = key["name"]?.stringValue, let secret = key["secret"]?.stringValue.flatMap({ Data(base64Encoded: $0) }) else {
                            throw StoreError(.invalid, "\(path): resources[\(i)].providers[\(j)].aesgcm.keys[\(k)] needs a name and a base64 secret")
                        }
                        keys.append(try named(EncryptionKey(name: name, secret: Array(secret)), path))
                    }
                } else {
                    throw StoreError(.invalid, "\(path): resources[\(i)].providers[\(j)]: only aesgcm and identity are supported")
                }
            }
            // Identity first: keys only read (sealing = false puts no key in front).
            store = EncryptingStore(store, prefixes: prefixes, keys: sealing ? keys : [], readsPlain: readsPlain, openKeys: keys)
        }
        return store
    }

    static func named(_ make: @autoclosure () throws -> EncryptionKey, _ path: String) throws -> EncryptionKey {
        do { return try make() } catch { throw StoreError(.invalid, "\(path): \(error)") }
    }
}
