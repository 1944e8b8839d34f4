// Encryption at rest: a store wrapper that seals the values of some resources (Secrets) with
// AES-GCM before they reach the backend and opens them on every way back out (get, list, watch).
// The stored form is Kubernetes' own: "k8s:enc:aesgcm:v1:<key name>:" + nonce + ciphertext + tag,
// with the object's key as additional data, so a value can't be moved to another key. Several
// keys may be configured: the first seals, all of them open (key rotation); `identity` lets
// values written before encryption was turned on still be read.
import CCrypto
import Foundation

public struct EncryptionKey: Sendable {
    public let name: String
    public let secret: [UInt8]
    public init(name: String, secret: [UInt8]) throws {
        guard [16, 24, 32].contains(secret.count) else {
            throw StoreError(.invalid, "encryption key \(name) must be 16, 24 or 32 bytes (got \(secret.count))")
        }
        self.name = name; self.secret = secret
    }
}

public final class EncryptingStore: KeyValueStore, @unchecked Sendable {
    let base: any KeyValueStore
    /// Key prefixes whose values are sealed (e.g. "/secrets/").
    let prefixes: [String]
    /// The first seals (none: writes stay plain); `openKeys` open.
    let keys: [EncryptionKey]
    let openKeys: [EncryptionKey]
    /// Whether plain values (written before encryption) may be read.
    let readsPlain: Bool
    static let marker = Array("k8s:enc:aesgcm:v1:".utf8)

    /// `keys`: the first seals new writes (empty: writes stay plain, as with identity first).
    public init(_ base: any KeyValueStore, prefixes: [String], keys: [EncryptionKey], readsPlain: Bool, openKeys: [EncryptionKey]? = nil) {
        self.base = base; self.prefixes = prefixes; self.keys = keys; self.readsPlain = readsPlain
        self.openKeys = openKeys ?? keys
    }

    func covered(_ key: String) -> Bool { prefixes.contains { key.hasPrefix($0) } }

    func seal(_ key: String, _ value: [UInt8]) throws -> [UInt8] {
        guard covered(key), let k = keys.first else { return value }
        var nonce = [UInt8](repeating: 0, count: 12)
        guard RAND_bytes(&nonce, 12) == 1 else { throw StoreError(.io, "no randomness for encrypting \(key)") }
        guard let (ciphertext, tag) = Self.gcm(encrypt: true, key: k.secret, nonce: nonce, aad: Array(key.utf8), input: value, tag: nil) else {
            throw StoreError(.io, "encrypting \(key) failed")
        }
        return Self.marker + Array("\(k.name):".utf8) + nonce + ciphertext + tag
    }

    func open(_ key: String, _ value: [UInt8]) throws -> [UInt8] {
        guard covered(key) else { return value }
        guard value.starts(with: Self.marker) else {
            if readsPlain { return value }
            throw StoreError(.io, "\(key) is stored unencrypted and the encryption config has no identity provider to read it")
        }
        let rest = value.dropFirst(Self.marker.count)
        guard let colon = rest.firstIndex(of: UInt8(ascii: ":")) else { throw StoreError(.io, "\(key): malformed encrypted value") }
        let name = String(decoding: rest[rest.startIndex..<colon], as: UTF8.self)
        guard let k = openKeys.first(where: { $0.name == name }) else {
            throw StoreError(.io, "\(key) was encrypted with key \"\(name)\", which the encryption config no longer has")
        }
        let body = Array(rest[(colon + 1)...])
        guard body.count >= 28 else { throw StoreError(.io, "\(key): truncated encrypted value") }
        let nonce = Array(body[0..<12]), tag = Array(body[(body.count - 16)...]), ciphertext = Array(body[12..<(body.count - 16)])
        guard let (plain, _) = Self.gcm(encrypt: false, key: k.secret, nonce: nonce, aad: Array(key.utf8), input: ciphertext, tag: tag) else {
            throw StoreError(.io, "\(key): cannot decrypt with key \"\(name)\" (wrong key, or the value was altered)")
        }
        return plain
    }

    /// AES-GCM through OpenSSL; nil when the tag doesn't verify (or OpenSSL fails).
    static func gcm(encrypt: Bool, key: [UInt8], nonce: [UInt8], aad: [UInt8], input: [UInt8], tag: [UInt8]?) -> ([UInt8], [UInt8])? {
        guard let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let cipher = key.count == 16 ? EVP_aes_128_gcm() : key.count == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm()
        let initialize = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        let update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate
        guard initialize(ctx, cipher, nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, nil) == 1,
              initialize(ctx, nil, nil, key, nonce) == 1 else { return nil }
        var len: Int32 = 0
        if !aad.isEmpty { guard update(ctx, nil, &len, aad, Int32(aad.count)) == 1 else { return nil } }
        var out = [UInt8](repeating: 0, count: input.count + 16)
        var total: Int32 = 0
        if !input.isEmpty {
            guard update(ctx, &out, &len, input, Int32(input.count)) == 1 else { return nil }
            total = len
        }
        if !encrypt {
            var t = tag ?? []
            guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, &t) == 1 else { return nil }
        }
        let final = out.withUnsafeMutableBufferPointer { p in
            encrypt ? EVP_EncryptFinal_ex(ctx, p.baseAddress! + Int(total), &len) : EVP_DecryptFinal_ex(ctx, p.baseAddress! + Int(total), &len)
        }
        guard final == 1 else { return nil }
        total += len
        var newTag = [UInt8](repeating: 0, count: 16)
        if encrypt { guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, &newTag) == 1 else { return nil } }
        return (Array(out[0..<Int(total)]), newTag)
    }

    func open(_ kv: KeyValue) throws -> KeyValue {
        var out = kv
        out.value = try open(kv.key, kv.value)
        return out
    }

    // MARK: KeyValueStore

    public func create(_ key: String, value: [UInt8]) async throws -> Int64 { try await base.create(key, value: try seal(key, value)) }
    public func get(_ key: String) async throws -> KeyValue? { try await base.get(key).map(open) }
    public func list(prefix: String, limit: Int?, continueAfter: String?, revision: Int64?) async throws -> ListResult {
        var r = try await base.list(prefix: prefix, limit: limit, continueAfter: continueAfter, revision: revision)
        r.items = try r.items.map(open)
        return r
    }
    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) async throws -> Int64 {
        try await base.update(key, value: try seal(key, value), expectedModRevision: expectedModRevision)
    }
    public func delete(_ key: String, expectedModRevision: Int64?) async throws -> (previous: KeyValue, revision: Int64) {
        let r = try await base.delete(key, expectedModRevision: expectedModRevision)
        return (try open(r.previous), r.revision)
    }
    public func watch(prefix: String, fromRevision: Int64) async throws -> AsyncThrowingStream<WatchEvent, Error> {
        let events = try await base.watch(prefix: prefix, fromRevision: fromRevision)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await e in events {
                        switch e {
                        case .put(let kv, let previous): continuation.yield(.put(try open(kv), previous: try previous.map(open)))
                        case .delete(let previous, let revision): continuation.yield(.delete(previous: try open(previous), revision: revision))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
    public func currentRevision() async throws -> Int64 { try await base.currentRevision() }
    public func compact(upTo revision: Int64) async throws { try await base.compact(upTo: revision) }
}
