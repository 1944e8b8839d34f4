/* libnftables, loaded at run time (dlopen) so that skiff runs on hosts without it: only
 * `skiff proxy --mode nftables` needs it. Header-only. One context keeps its netlink socket, which
 * belongs to the network namespace the context was created in. */
#ifndef SKIFF_NFTABLES_SHIM_H
#define SKIFF_NFTABLES_SHIM_H
#include <dlfcn.h>
#include <stddef.h>

struct skiff_nft_api {
    void *(*ctx_new)(unsigned int flags);
    void (*ctx_free)(void *ctx);
    int (*buffer_output)(void *ctx);
    int (*buffer_error)(void *ctx);
    const char *(*get_output)(void *ctx);
    const char *(*get_error)(void *ctx);
    int (*run_cmd)(void *ctx, const char *buf);
};

static inline struct skiff_nft_api *skiff_nft_api(void) {
    static struct skiff_nft_api api;
    static int loaded = 0; /* 1 ok, -1 missing */
    if (loaded == 0) {
        void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
        loaded = -1;
        if (lib) {
            api.ctx_new = (void *(*)(unsigned int))dlsym(lib, "nft_ctx_new");
            api.ctx_free = (void (*)(void *))dlsym(lib, "nft_ctx_free");
            api.buffer_output = (int (*)(void *))dlsym(lib, "nft_ctx_buffer_output");
            api.buffer_error = (int (*)(void *))dlsym(lib, "nft_ctx_buffer_error");
            api.get_output = (const char *(*)(void *))dlsym(lib, "nft_ctx_get_output_buffer");
            api.get_error = (const char *(*)(void *))dlsym(lib, "nft_ctx_get_error_buffer");
            api.run_cmd = (int (*)(void *, const char *))dlsym(lib, "nft_run_cmd_from_buffer");
            if (api.ctx_new && api.ctx_free && api.buffer_output && api.buffer_error && api.get_output &&
                api.get_error && api.run_cmd)
                loaded = 1;
        }
    }
    return loaded == 1 ? &api : NULL;
}

/* A context with buffered output and errors, or NULL when libnftables is missing. */
static inline void *skiff_nft_new(void) {
    struct skiff_nft_api *api = skiff_nft_api();
    if (!api) return NULL;
    void *ctx = api->ctx_new(0);
    if (!ctx) return NULL;
    api->buffer_output(ctx);
    api->buffer_error(ctx);
    return ctx;
}

/* Runs a script of nft commands as one transaction: 0 on success. */
static inline int skiff_nft_run(void *ctx, const char *commands) { return skiff_nft_api()->run_cmd(ctx, commands); }
static inline const char *skiff_nft_output(void *ctx) { return skiff_nft_api()->get_output(ctx); }
static inline const char *skiff_nft_error(void *ctx) { return skiff_nft_api()->get_error(ctx); }
static inline void skiff_nft_free(void *ctx) { skiff_nft_api()->ctx_free(ctx); }
#endif
