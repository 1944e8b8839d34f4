/* OpenSSL's TLS for the Client's own sockets (skiffctl exec/attach over HTTPS). Header-only. */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* SSL_set_tlsext_host_name is a macro Swift can't import. */
static inline int skiff_ssl_set_sni(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
