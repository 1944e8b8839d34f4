// The master's security setup when it serves TLS (any non-loopback address, or --tls): the
// cluster CA and certificates under <data-dir>/tls, the tokens it accepts (the --token-auth-file
// ones and its own loopback token for the components it runs), and the admin kubeconfig.
import API
import APIServer
import ArgumentParser
import Client
import Foundation
import NIOSSL
import Node
import Auth
import Store

struct SecurityFlags: ParsableArguments {
    @Flag(name: .customLong("tls"), help: "Serve HTTPS with authentication and RBAC even on a loopback address (always so on others).")
    var forceTLS = false

    @Option(name: .customLong("tls-san"), help: "Another name or IPv4 address for the serving certificate (repeatable).")
    var extraNames: [String] = []

    @Option(name: .customLong("token-auth-file"), help: "Static bearer tokens: CSV lines token,user,uid,\"group1,group2\".")
    var tokenFile: String?

    func secure(host: String) -> Bool {
        forceTLS || !(host == "127.0.0.1" || host == "localhost" || host.hasPrefix("127.") || host == "::1")
    }
}

struct MasterSecurity {
    let ca: ClusterCA
    let context: NIOSSLContext
    let tokens: TokenAuthenticator
    let loopbackToken: String
    let admin: (certPath: String, keyPath: String)
    let dataDir: String
    let nodeTLS: NodeClientTLS
    let nodeToken: String
    let serviceAccountTokens: ServiceAccountTokens

    /// Loads or makes what serving `host` securely needs; errors say what could not be done.
    static func prepare(flags: SecurityFlags, dataDir: String, host: String, serviceCIDR: IPv4CIDR, store: any KeyValueStore) throws -> MasterSecurity {
        do {
            try ClusterSecrets.share(store: store, dataDir: dataDir)
            let ca = try ClusterCA.loadOrCreate(directory: dataDir + "/tls")
            let ips = Set(["127.0.0.1", IPv4CIDR.format(serviceCIDR.network + 1)] + hostAddresses()
                          + (host == "0.0.0.0" || host.isEmpty ? [] : [host]) + flags.extraNames.filter { IPv4CIDR($0 + "/32") != nil })
            let dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
                       ProcessInfo.processInfo.hostName] + flags.extraNames.filter { IPv4CIDR($0 + "/32") == nil }
            let serving = try ca.ensure("apiserver", commonName: "kube-apiserver", dnsNames: Array(Set(dns)).sorted(), ipAddresses: ips.sorted())
            let admin = try ca.ensure("admin", commonName: "system:admin", organizations: ["system:masters"])
            let kubeletClient = try ca.ensure("apiserver-kubelet-client", commonName: "kube-apiserver-kubelet-client", organizations: ["system:masters"])
            let tokens = try flags.tokenFile.map { try TokenAuthenticator(file: $0) } ?? TokenAuthenticator()
            let loopback = TokenAuthenticator.randomToken()
            tokens.add(token: loopback, user: UserInfo(name: "system:apiserver", groups: ["system:masters"]))
            // Nodes join with <data-dir>/node-token: its secret may only fetch node credentials.
            let join = try NodeJoin.ensureToken(dataDir: dataDir, ca: ca)
            tokens.add(token: join.secret, user: UserInfo(name: "system:node-bootstrap", groups: [NodeJoin.bootstrapGroup]))
            let context = try TLSSetup.serverContext(certificate: serving.certPath, key: serving.keyPath, clientCA: ca.directory + "/ca.crt")
            let nodeTLS = try NodeClientTLS(certificate: kubeletClient.certPath, key: kubeletClient.keyPath, ca: ca.directory + "/ca.crt")
            return MasterSecurity(ca: ca, context: context, tokens: tokens, loopbackToken: loopback, admin: admin, dataDir: dataDir,
                                  nodeTLS: nodeTLS, nodeToken: dataDir + "/node-token",
                                  serviceAccountTokens: try ServiceAccountTokens(directory: ca.directory))
        } catch let e as ValidationError {
            throw e
        } catch {
            throw ValidationError("cannot serve TLS: \(error)")
        }
    }

    /// The components this process runs reach the API over HTTPS with the loopback token.
    func registerLoopback(server: String) {
        ClientCredentials.register(server: server, ClientCredentials(caFile: ca.directory + "/ca.crt", token: loopbackToken))
    }

    /// <data-dir>/admin.kubeconfig (0600): the CA, and the admin certificate and key, inline.
    func writeAdminKubeconfig(server: String, to path: String) throws -> String {
        func b64(_ file: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: file)).base64EncodedString() }
        try Self.writeKubeconfig(server: server,
                                 user: "{client-certificate-data: \(try b64(admin.certPath)), client-key-data: \(try b64(admin.keyPath))}",
                                 cluster: ", certificate-authority-data: \(try b64(ca.directory + "/ca.crt"))", to: path, mode: 0o600)
        return path
    }

    /// A one-context kubeconfig (`user`: the user's YAML; `cluster`: more cluster fields), written whole with its mode.
    static func writeKubeconfig(server: String, user: String, cluster: String, to path: String, mode: Int) throws {
        let text = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: skiff
          cluster: {server: "\(server)"\(cluster)}
        users:
        - name: skiff
          user: \(user)
        contexts:
        - name: skiff
          context: {cluster: skiff, user: skiff, namespace: default}
        current-context: skiff

        """
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8), attributes: [.posixPermissions: mode]),
              rename(tmp, path) == 0 else { throw ValidationError("cannot write \(path)") }
    }

    /// The node server certificate of a node that runs in this process (`skiff up`), under <data-dir>/tls.
    func issueNodeServing(name: String, addresses: [String]) throws -> NodeServerTLS {
        let serving = try ca.ensure("node-serving", commonName: "system:node:\(name)", organizations: ["system:nodes"],
                                    dnsNames: [name, "localhost"], ipAddresses: Array(Set(addresses + ["127.0.0.1"])).sorted())
        return NodeServerTLS(certificate: serving.certPath, key: serving.keyPath, ca: ca.directory + "/ca.crt")
    }

    /// This host's IPv4 addresses (for the serving certificate).
    static func hostAddresses() -> [String] {
        var out: [String] = []
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var p = list
        while let ifa = p {
            if let sa = ifa.pointee.ifa_addr, sa.pointee.sa_family == UInt16(AF_INET) {
                var addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                inet_ntop(AF_INET, &addr, &buf, socklen_t(INET_ADDRSTRLEN))
                out.append(String(cString: buf))
            }
            p = ifa.pointee.ifa_next
        }
        return out
    }
}
