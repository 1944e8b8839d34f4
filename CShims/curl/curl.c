#include "skiff_curl.h"
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

struct header_buffer { char *data; size_t len; size_t cap; };

static size_t on_header(char *buffer, size_t size, size_t nitems, void *userdata) {
    struct header_buffer *h = userdata;
    size_t n = size * nitems;
    // A new status line starts a new response (redirects, 100-continue): keep only the last.
    if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0) h->len = 0;
    if (h->len + n + 1 > h->cap) {
        size_t cap = (h->cap ? h->cap * 2 : 1024);
        while (cap < h->len + n + 1) cap *= 2;
        char *p = realloc(h->data, cap);
        if (!p) return 0;
        h->data = p; h->cap = cap;
    }
    memcpy(h->data + h->len, buffer, n);
    h->len += n;
    h->data[h->len] = 0;
    return n;
}

struct body_ctx { skiff_curl_write_fn fn; void *ctx; CURL *handle; };

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    struct body_ctx *b = userdata;
    long status = 0;
    curl_easy_getinfo(b->handle, CURLINFO_RESPONSE_CODE, &status);
    return b->fn(ptr, size * nmemb, status, b->ctx);
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    volatile int *cancel = clientp;
    return (cancel && *cancel) ? 1 : 0;
}

static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *u) {
    (void)h; (void)access; (void)u;
    pthread_mutex_lock(&share_locks[data]);
}
static void share_unlock(CURL *h, curl_lock_data data, void *u) {
    (void)h; (void)u;
    pthread_mutex_unlock(&share_locks[data]);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_once(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&share_locks[i], NULL);
}
void skiff_curl_global_init(void) { pthread_once(&once, init_once); }

void *skiff_curl_share_new(void) {
    skiff_curl_global_init();
    CURLSH *sh = curl_share_init();
    if (!sh) return NULL;
    curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return sh;
}

int skiff_curl_get(const struct skiff_curl_request *req, skiff_curl_write_fn on_data, void *ctx,
                   struct skiff_curl_response *resp) {
    skiff_curl_global_init();
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    if (!c) { strcpy(resp->error, "curl_easy_init failed"); return -1; }
    struct curl_slist *list = NULL;
    for (int i = 0; i < req->header_count; i++) list = curl_slist_append(list, req->headers[i]);
    struct header_buffer h = {0};
    struct body_ctx b = { on_data, ctx, c };
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);   // blobs redirect to storage backends
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "skiff/0.1");
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);   // fewer, larger callbacks for blobs
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (req->connect_timeout_seconds > 0) curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_seconds);
    if (req->timeout_seconds > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_seconds);
    // Abort transfers that stall (under 1 KiB/s for 30 s) instead of hanging forever; a
    // long-lived stream instead has TCP keepalives to notice a dead peer.
    if (req->long_lived) {
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 10L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 5L);
    } else {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    }
    if (req->cancel) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)req->cancel);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->share) {
        curl_easy_setopt(c, CURLOPT_SHARE, (CURLSH *)req->share);
        // The shared cache keeps this many idle connections (the default, 5, would close most
        // of a busy pool's after each request).
        curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 256L);
    }
    if (req->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    if (req->cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, req->key_file);
    if (req->ca_pem) {
        struct curl_blob b = { (void *)req->ca_pem, req->ca_pem_len, CURL_BLOB_COPY };
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
    }
    if (req->cert_pem) {
        struct curl_blob b = { (void *)req->cert_pem, req->cert_pem_len, CURL_BLOB_COPY };
        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (req->key_pem) {
        struct curl_blob b = { (void *)req->key_pem, req->key_pem_len, CURL_BLOB_COPY };
        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (req->resume_from > 0) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)req->resume_from);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (rc != CURLE_OK) {
        const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        strncpy(resp->error, msg, sizeof resp->error - 1);
    }
    resp->headers = h.data;
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : (int)rc;
}

void skiff_curl_free(void *p) { free(p); }
