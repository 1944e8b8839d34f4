// TLS on the Client's own sockets (OpenSSL), for what libcurl can't carry: the exec/attach
// websocket. Trusts the CA of the credentials (file or inline PEM), presents their client
// certificate if any, and checks the server's certificate names the host it dialled.
import CSSL
import Foundation
import HTTPTransfer

final class TLSSession {
    private let ctx: OpaquePointer
    let ssl: OpaquePointer

    init(fd: Int32, host: String, tls: TLSOptions) throws {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw ClientError("TLS: cannot make a context") }
        self.ctx = ctx
        func fail(_ what: String) -> ClientError {
            let code = ERR_get_error()
            var buf = [CChar](repeating: 0, count: 256)
            let size = buf.count
            ERR_error_string_n(code, &buf, size)
            return ClientError("TLS to \(host): \(what): \(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        // The trusted CA: the kubeconfig's (inline or file), else the system's.
        if let pem = tls.caPEM {
            let store = SSL_CTX_get_cert_store(ctx)
            let bio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
            defer { BIO_free(bio) }
            while let cert = PEM_read_bio_X509(bio, nil, nil, nil) { X509_STORE_add_cert(store, cert); X509_free(cert) }
            ERR_clear_error()
        } else if let file = tls.caFile {
            guard SSL_CTX_load_verify_locations(ctx, file, nil) == 1 else { SSL_CTX_free(ctx); throw fail("loading \(file)") }
        } else {
            SSL_CTX_set_default_verify_paths(ctx)
        }
        if !tls.insecure { SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil) }
        // The client certificate and key, if the credentials have them.
        if let pem = tls.certPEM ?? tls.certFile.flatMap({ FileManager.default.contents(atPath: $0) }).map(Array.init),
           let keyPEM = tls.keyPEM ?? tls.keyFile.flatMap({ FileManager.default.contents(atPath: $0) }).map(Array.init) {
            let cbio = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
            let kbio = keyPEM.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }
            defer { BIO_free(cbio); BIO_free(kbio) }
            guard let cert = PEM_read_bio_X509(cbio, nil, nil, nil), let key = PEM_read_bio_PrivateKey(kbio, nil, nil, nil) else {
                SSL_CTX_free(ctx); throw fail("reading the client certificate")
            }
            defer { X509_free(cert); EVP_PKEY_free(key) }
            guard SSL_CTX_use_certificate(ctx, cert) == 1, SSL_CTX_use_PrivateKey(ctx, key) == 1 else { SSL_CTX_free(ctx); throw fail("using the client certificate") }
        }
        guard let ssl = SSL_new(ctx) else { SSL_CTX_free(ctx); throw fail("SSL_new") }
        self.ssl = ssl
        // The name (or IP) the certificate must carry.
        let param = SSL_get0_param(ssl)
        if host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
            X509_VERIFY_PARAM_set1_ip_asc(param, host)
        } else {
            X509_VERIFY_PARAM_set1_host(param, host, 0)
            _ = skiff_ssl_set_sni(ssl, host)
        }
        SSL_set_fd(ssl, fd)
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            let reason = verify != X509_V_OK ? String(cString: X509_verify_cert_error_string(verify)) : "handshake failed"
            SSL_free(ssl); SSL_CTX_free(ctx)
            throw ClientError("TLS to \(host): \(reason)")
        }
    }

    deinit {
        SSL_shutdown(ssl)
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Int { Int(SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))) }
    func read(_ bytes: UnsafeMutableRawBufferPointer) -> Int { Int(SSL_read(ssl, bytes.baseAddress, Int32(bytes.count))) }
}
