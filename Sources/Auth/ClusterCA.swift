// The cluster's certificate authority, as k3s makes one on first start: a P-256 CA under
// <data-dir>/tls (ca.crt, ca.key 0600) that issues the API server's serving certificate and
// client certificates whose subject is the identity (CN = user, O = groups). Certificates are
// reissued when they near expiry or no longer name what they must.
import Crypto
import Foundation
import SwiftASN1
import X509

public struct SecurityError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A certificate and its key, PEM-encoded.
public struct IssuedCertificate: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
}

public final class ClusterCA: @unchecked Sendable {
    public let certificate: Certificate
    let key: P256.Signing.PrivateKey
    public let certificatePEM: String
    public let directory: String

    /// Leaf certificates live this long; they are reissued when under `renewBefore` from expiry.
    public static let leafValidity: TimeInterval = 365 * 24 * 3600
    public static let renewBefore: TimeInterval = 30 * 24 * 3600

    init(certificate: Certificate, key: P256.Signing.PrivateKey, directory: String) throws {
        self.certificate = certificate
        self.key = key
        self.directory = directory
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// The CA in `directory` (created on first use: ca.crt 0644, ca.key 0600).
    public static func loadOrCreate(directory: String) throws -> ClusterCA {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let certPath = directory + "/ca.crt", keyPath = directory + "/ca.key"
        if FileManager.default.fileExists(atPath: certPath) {
            do {
                let cert = try Certificate(pemEncoded: String(contentsOfFile: certPath, encoding: .utf8))
                let key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
                return try ClusterCA(certificate: cert, key: key, directory: directory)
            } catch {
                throw SecurityError("cannot load the cluster CA from \(directory): \(error)")
            }
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("skiff-ca@\(Int(Date().timeIntervalSince1970))") }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 24 * 3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        try writeSecret(keyPath, key.pemRepresentation)
        try write(certPath, try cert.serializeAsPEM().pemString, mode: 0o644)
        return try ClusterCA(certificate: cert, key: key, directory: directory)
    }

    /// A new certificate signed by this CA. `dnsNames`/`ipAddresses` make it a serving certificate.
    public func issue(commonName: String, organizations: [String] = [], dnsNames: [String] = [], ipAddresses: [String] = [],
                      validity: TimeInterval = ClusterCA.leafValidity) throws -> IssuedCertificate {
        let leafKey = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            for o in organizations { OrganizationName(o) }
            CommonName(commonName)
        }
        let serving = !dnsNames.isEmpty || !ipAddresses.isEmpty
        let addresses = try ipAddresses.map { ip -> GeneralName in
            guard let bytes = Self.ipv4Bytes(ip) else { throw SecurityError("\(ip) is not an IPv4 address") }
            return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
        }
        let now = Date()
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
            issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage(serving ? [.serverAuth, .clientAuth] : [.clientAuth])
                if serving { SubjectAlternativeNames(dnsNames.map { GeneralName.dnsName($0) } + addresses) }
            },
            issuerPrivateKey: .init(key))
        return IssuedCertificate(certificatePEM: try cert.serializeAsPEM().pemString, keyPEM: leafKey.pemRepresentation)
    }

    /// `name`.crt/.key in the CA's directory: kept if still valid for a while and naming the same
    /// identity and addresses, else (re)issued.
    public func ensure(_ name: String, commonName: String, organizations: [String] = [], dnsNames: [String] = [],
                       ipAddresses: [String] = []) throws -> (certPath: String, keyPath: String) {
        let certPath = directory + "/\(name).crt", keyPath = directory + "/\(name).key"
        if let text = try? String(contentsOfFile: certPath, encoding: .utf8), FileManager.default.fileExists(atPath: keyPath),
           let existing = try? Certificate(pemEncoded: text),
           existing.issuer == certificate.subject,
           existing.notValidAfter.timeIntervalSinceNow > Self.renewBefore,
           Self.identity(existing).user == commonName, Set(Self.identity(existing).groups) == Set(organizations),
           Set(Self.names(existing)) == Set(dnsNames + ipAddresses) {
            return (certPath, keyPath)
        }
        let issued = try issue(commonName: commonName, organizations: organizations, dnsNames: dnsNames, ipAddresses: ipAddresses)
        try Self.writeSecret(keyPath, issued.keyPEM)
        try Self.write(certPath, issued.certificatePEM, mode: 0o644)
        return (certPath, keyPath)
    }

    /// CN and O of a certificate's subject: the user and groups it authenticates.
    public static func identity(_ cert: Certificate) -> (user: String, groups: [String]) {
        var user = "", groups: [String] = []
        for rdn in cert.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.commonName { user = String(describing: attribute.value) }
                if attribute.type == .RDNAttributeType.organizationName { groups.append(String(describing: attribute.value)) }
            }
        }
        return (user, groups)
    }

    /// When a PEM certificate stops being valid.
    public static func expiry(pem: String) throws -> Date { try Certificate(pemEncoded: pem).notValidAfter }

    /// CN and O of a PEM certificate.
    public static func identity(pem: String) throws -> (user: String, groups: [String]) { identity(try Certificate(pemEncoded: pem)) }

    /// The DNS names and IPv4 addresses a certificate is valid for.
    static func names(_ cert: Certificate) -> [String] {
        guard let sans = try? cert.extensions.subjectAlternativeNames else { return [] }
        return sans.compactMap { name -> String? in
            switch name {
            case .dnsName(let d): return d
            case .ipAddress(let bytes): return bytes.bytes.count == 4 ? bytes.bytes.map(String.init).joined(separator: ".") : nil
            default: return nil
            }
        }
    }

    static func ipv4Bytes(_ ip: String) -> [UInt8]? {
        let parts = ip.split(separator: ".").compactMap { UInt8($0) }
        return parts.count == 4 ? parts : nil
    }

    static func writeSecret(_ path: String, _ text: String) throws { try write(path, text, mode: 0o600) }

    /// Writes through a temporary file with the final mode, then renames (never briefly world-readable).
    static func write(_ path: String, _ text: String, mode: mode_t) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SecurityError("cannot write \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, mode)
        let bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)   // PEM readers want the final newline
        let ok = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw SecurityError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}
