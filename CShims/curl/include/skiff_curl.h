// One HTTP request through libcurl (Swift can't call curl_easy_setopt: it is variadic), for the
// registry client and the etcd store. Body bytes go to `on_data` as they arrive; response headers
// of the final response are returned as one malloc'd "Name: value\n..." string the caller frees.
#ifndef SKIFF_CURL_H
#define SKIFF_CURL_H
#include <stddef.h>

/// Body bytes of the response with HTTP `status`. Returns the number of bytes consumed;
/// anything else aborts the transfer.
typedef size_t (*skiff_curl_write_fn)(const char *data, size_t len, long status, void *ctx);

struct skiff_curl_request {
    const char *url;
    const char *const *headers;   // "Name: value" strings
    int header_count;
    int insecure;                 // skip TLS verification
    const char *ca_file;          // extra CA bundle, or NULL
    const char *cert_file;        // client certificate, or NULL
    const char *key_file;
    long timeout_seconds;         // whole transfer; 0 = none
    long connect_timeout_seconds;
    long long resume_from;        // Range: bytes=N- when > 0
    const char *method;           // NULL: GET (POST when there is a body)
    const void *body;             // request body, or NULL
    size_t body_len;
    int long_lived;               // a stream that may idle (watches): no stall abort
    volatile int *cancel;         // when it points to non-zero the transfer stops (checked ~1/s)
    void *share;                  // a connection cache from skiff_curl_share_new, or NULL
    const void *ca_pem; size_t ca_pem_len;       // in-memory PEM (a kubeconfig's *-data), or NULL
    const void *cert_pem; size_t cert_pem_len;
    const void *key_pem; size_t key_pem_len;
};

struct skiff_curl_response {
    long status;
    char *headers;                // malloc'd; free with skiff_curl_free
    char error[256];              // set when the call returns non-zero
};

/// 0 on a completed transfer (any HTTP status), non-zero on a transport error.
int skiff_curl_get(const struct skiff_curl_request *req, skiff_curl_write_fn on_data, void *ctx,
                   struct skiff_curl_response *resp);
void skiff_curl_free(void *p);
/// Once per process, before threads use curl.
void skiff_curl_global_init(void);
/// A connection cache requests can share across threads (keep-alive to the same hosts).
void *skiff_curl_share_new(void);

#endif
