// The master's TLS: its serving certificate and key, the cluster CA as the trust root for client
// certificates (verified when presented; a caller may use a token instead), TLS 1.2 or newer.
import NIOSSL

public enum TLSSetup {
    public static func serverContext(certificate: String, key: String, clientCA: String) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))   // (.file guesses the format from the extension)
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = .optionalVerification
        config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA))
        return try NIOSSLContext(configuration: config)
    }
}
