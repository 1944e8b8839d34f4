// Encryption at rest: Secrets reach the backend sealed (Kubernetes' k8s:enc:aesgcm:v1 form) and
// come back opened through get, list, watch and delete; other resources stay plain; rotation
// reads old keys; a value moved to another key, a wrong key or plain data without identity fail
// with a clear error.
import Foundation
import Testing
@testable import Store

@Suite struct EncryptingStoreTests {
    let k1 = try! EncryptionKey(name: "key1", secret: Array(repeating: 1, count: 32))
    let k2 = try! EncryptionKey(name: "key2", secret: Array(repeating: 2, count: 16))

    @Test func secretsAreSealedAndOpened() async throws {
        let raw = MemoryStore()
        let s = EncryptingStore(raw, prefixes: ["/secrets/"], keys: [k1], readsPlain: true)
        let start = try await s.currentRevision()
        let stream = try await s.watch(prefix: "/secrets/", fromRevision: start)
        let rev = try await s.create("/secrets/default/db", value: Array(#"{"data":{"password":"hunter2"}}"#.utf8))
        _ = try await s.create("/configmaps/default/cfg", value: Array("plain".utf8))
        let stored = await raw.get("/secrets/default/db")!.value
        #expect(stored.starts(with: Array("k8s:enc:aesgcm:v1:key1:".utf8)))
        #expect(!String(decoding: stored, as: UTF8.self).contains("hunter2"))
        #expect(await raw.get("/configmaps/default/cfg")!.value == Array("plain".utf8))
        #expect(try await s.get("/secrets/default/db")?.value == Array(#"{"data":{"password":"hunter2"}}"#.utf8))
        #expect(try await s.list(prefix: "/secrets/", limit: nil, continueAfter: nil, revision: nil).items.first?.value == Array(#"{"data":{"password":"hunter2"}}"#.utf8))
        var it = stream.makeAsyncIterator()
        if case .put(let kv, _)? = try await it.next() { #expect(String(decoding: kv.value, as: UTF8.self).contains("hunter2")) }
        else { Issue.record("no watch event") }
        _ = try await s.update("/secrets/default/db", value: Array("v2".utf8), expectedModRevision: rev)
        #expect(try await s.delete("/secrets/default/db", expectedModRevision: nil).previous.value == Array("v2".utf8))
    }

    @Test func rotationTamperingAndMissingKeys() async throws {
        let raw = MemoryStore()
        let old = EncryptingStore(raw, prefixes: ["/secrets/"], keys: [k1], readsPlain: false)
        _ = try await old.create("/secrets/a/x", value: Array("one".utf8))
        // Rotated: key2 seals, key1 still opens.
        let rotated = EncryptingStore(raw, prefixes: ["/secrets/"], keys: [k2, k1], readsPlain: false)
        #expect(try await rotated.get("/secrets/a/x")?.value == Array("one".utf8))
        _ = try await rotated.create("/secrets/a/y", value: Array("two".utf8))
        #expect(await raw.get("/secrets/a/y")!.value.starts(with: Array("k8s:enc:aesgcm:v1:key2:".utf8)))
        // key1 dropped from the config: its values can't be read, and the error says why.
        let forgot = EncryptingStore(raw, prefixes: ["/secrets/"], keys: [k2], readsPlain: false)
        await #expect { try await forgot.get("/secrets/a/x") } throws: { "\($0)".contains("key \"key1\", which the encryption config no longer has") }
        // A sealed value copied under another key fails authentication.
        _ = try await raw.create("/secrets/a/moved", value: await raw.get("/secrets/a/y")!.value)
        await #expect { try await rotated.get("/secrets/a/moved") } throws: { "\($0)".contains("cannot decrypt") }
        // Plain data without identity is refused, with identity it reads.
        _ = try await raw.create("/secrets/a/plain", value: Array("p".utf8))
        await #expect { try await rotated.get("/secrets/a/plain") } throws: { "\($0)".contains("no identity provider") }
        #expect(try await EncryptingStore(raw, prefixes: ["/secrets/"], keys: [k2], readsPlain: true).get("/secrets/a/plain")?.value == Array("p".utf8))
        #expect(throws: StoreError.self) { try EncryptionKey(name: "short", secret: [1, 2, 3]) }
    }
}
