/* Parsing the spawn file (format: see skiff_shim.h). Runs in the monitor before clone, so it may
 * allocate; every string points into the one buffer holding the file. */
#define _GNU_SOURCE
#include "skiff_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *stage_names[SKIFF_STAGE_COUNT] = {
    "none", "config", "clone", "cgroup", "setns", "hostname", "propagation", "rootfs bind", "mount",
    "device", "symlink", "pivot_root", "mask", "readonly path", "readonly rootfs", "rlimit",
    "no_new_privs", "seccomp", "setgroups", "setgid", "setuid", "capabilities", "cwd", "exec", "stdio",
};

const char *skiff_stage_name(int stage) {
    if (stage < 0 || stage >= SKIFF_STAGE_COUNT) return "unknown";
    return stage_names[stage];
}

void skiff_format_error(const struct skiff_spawn_error *e, char *buf, size_t len) {
    if (e->stage == SKIFF_STAGE_CONFIG && e->err == 0)
        snprintf(buf, len, "config: %s", e->detail);
    else if (e->detail[0])
        snprintf(buf, len, "%s: %s (%s)", skiff_stage_name(e->stage), strerror(e->err), e->detail);
    else
        snprintf(buf, len, "%s: %s", skiff_stage_name(e->stage), strerror(e->err));
}

static int fail(struct skiff_spawn_error *err, int e, const char *fmt, const char *a, size_t idx) {
    err->stage = SKIFF_STAGE_CONFIG;
    err->err = e;
    char what[160];
    snprintf(what, sizeof what, fmt, a ? a : "");
    snprintf(err->detail, sizeof err->detail, "%s (record %zu)", what, idx);
    return -1;
}

/* Growable arrays; the monitor is small and single-threaded, realloc is fine here. */
#define PUSH(arr, count, value) do { \
        void *grown = realloc((void *)(arr), sizeof(*(arr)) * ((count) + 2)); \
        if (!grown) return fail(err, ENOMEM, "out of memory", NULL, idx); \
        (arr) = grown; (arr)[(count)++] = (value); \
    } while (0)

static int parse_u64(const char *s, int base, uint64_t *out) {
    if (!*s) return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end || s[0] == '-') return -1;
    *out = v;
    return 0;
}

static int parse_rlim(const char *s, rlim_t *out) {
    if (strcmp(s, "inf") == 0) { *out = RLIM_INFINITY; return 0; }
    uint64_t v;
    if (parse_u64(s, 10, &v)) return -1;
    *out = (rlim_t)v;
    return 0;
}

static int ns_type(const char *name) {
    if (!strcmp(name, "mnt")) return CLONE_NEWNS;
    if (!strcmp(name, "pid")) return CLONE_NEWPID;
    if (!strcmp(name, "uts")) return CLONE_NEWUTS;
    if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
    if (!strcmp(name, "net")) return CLONE_NEWNET;
    if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
    return 0;
}

static int read_file(const char *path, char **out, size_t *len, size_t max) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) { int e = errno ? errno : EFBIG; close(fd); errno = e; return -1; }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) { close(fd); errno = ENOMEM; return -1; }
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { int e = n < 0 ? errno : EIO; free(buf); close(fd); errno = e; return -1; }
        off += (size_t)n;
    }
    close(fd);
    buf[off] = 0;
    *out = buf;
    *len = off;
    return 0;
}

int skiff_config_parse(const char *path, struct skiff_config *c, struct skiff_spawn_error *err) {
    memset(c, 0, sizeof *c);
    memset(err, 0, sizeof *err);
    c->propagation = MS_PRIVATE;
    c->cwd = "/";
    size_t idx = 0;
    if (read_file(path, &c->buf, &c->len, 16 << 20) < 0) {
        err->stage = SKIFF_STAGE_CONFIG;
        err->err = errno;
        snprintf(err->detail, sizeof err->detail, "%s", path);
        return -1;
    }
    if (c->len == 0 || c->buf[c->len - 1] != 0) return fail(err, 0, "%s: not NUL-terminated", path, 0);

    const char *p = c->buf, *end = c->buf + c->len;
    /* Next NUL-terminated field, or NULL at the end of the buffer. */
#define FIELD() (p < end ? (tmp = p, p += strlen(p) + 1, tmp) : NULL)
#define NEED(n) for (size_t i_ = 0; i_ < (n); i_++) { f[i_] = FIELD(); \
        if (!f[i_]) return fail(err, 0, "key %s: missing fields", key, idx); }
    const char *tmp, *f[8];
    while (p < end) {
        idx++;
        const char *key = FIELD();
        if (!strcmp(key, "rootfs")) { NEED(1); c->rootfs = f[0]; }
        else if (!strcmp(key, "arg")) { NEED(1); PUSH(c->argv, c->argc, f[0]); c->argv[c->argc] = NULL; }
        else if (!strcmp(key, "env")) { NEED(1); PUSH(c->envp, c->envc, f[0]); c->envp[c->envc] = NULL; }
        else if (!strcmp(key, "cwd")) { NEED(1); c->cwd = f[0]; }
        else if (!strcmp(key, "hostname")) { NEED(1); c->hostname = f[0]; }
        else if (!strcmp(key, "ns")) {
            NEED(2);
            int t = ns_type(f[0]);
            if (!t) return fail(err, 0, "unknown namespace type %s", f[0], idx);
            if (c->nns == SKIFF_MAX_NS) return fail(err, 0, "too many namespaces", NULL, idx);
            c->ns[c->nns].type = t;
            c->ns[c->nns].path = strcmp(f[1], "new") ? f[1] : NULL;
            c->nns++;
        } else if (!strcmp(key, "mount")) {
            NEED(5);
            uint64_t flags;
            if (parse_u64(f[3], 10, &flags)) return fail(err, 0, "mount flags \"%s\" are not a number", f[3], idx);
            if (f[1][0] != '/') return fail(err, 0, "mount destination %s is not absolute", f[1], idx);
            struct skiff_mount m = { f[0], f[1], f[2], f[4], (unsigned long)flags };
            PUSH(c->mounts, c->nmounts, m);
        } else if (!strcmp(key, "device")) {
            NEED(7);
            uint64_t maj, min, mode, uid, gid;
            if ((f[1][0] != 'c' && f[1][0] != 'b') || f[1][1] || parse_u64(f[2], 10, &maj) || parse_u64(f[3], 10, &min)
                || parse_u64(f[4], 8, &mode) || parse_u64(f[5], 10, &uid) || parse_u64(f[6], 10, &gid))
                return fail(err, 0, "device %s: bad type/number/mode/owner", f[0], idx);
            struct skiff_device d = { f[0], f[1][0], (unsigned)maj, (unsigned)min, (mode_t)mode, (uid_t)uid, (gid_t)gid };
            PUSH(c->devices, c->ndevices, d);
        } else if (!strcmp(key, "symlink")) {
            NEED(2);
            struct skiff_symlink s = { f[0], f[1] };
            PUSH(c->symlinks, c->nsymlinks, s);
        } else if (!strcmp(key, "masked")) { NEED(1); PUSH(c->masked, c->nmasked, f[0]); }
        else if (!strcmp(key, "readonly")) { NEED(1); PUSH(c->readonly, c->nreadonly, f[0]); }
        else if (!strcmp(key, "readonly_rootfs")) { NEED(1); c->readonly_rootfs = f[0][0] == '1'; }
        else if (!strcmp(key, "propagation")) {
            NEED(1);
            if (!strcmp(f[0], "private")) c->propagation = MS_PRIVATE;
            else if (!strcmp(f[0], "slave")) c->propagation = MS_SLAVE;
            else if (!strcmp(f[0], "shared")) c->propagation = MS_SHARED;
            else return fail(err, 0, "unknown propagation %s", f[0], idx);
        } else if (!strcmp(key, "rlimit")) {
            NEED(3);
            uint64_t res;
            struct skiff_rlimit r;
            if (parse_u64(f[0], 10, &res) || res >= RLIM_NLIMITS || parse_rlim(f[1], &r.soft) || parse_rlim(f[2], &r.hard))
                return fail(err, 0, "rlimit %s: bad resource or value", f[0], idx);
            r.resource = (int)res;
            PUSH(c->rlimits, c->nrlimits, r);
        } else if (!strcmp(key, "user")) {
            NEED(2);
            uint64_t u, g;
            if (parse_u64(f[0], 10, &u) || parse_u64(f[1], 10, &g) || u > 0xfffffffeULL || g > 0xfffffffeULL)
                return fail(err, 0, "user %s: bad uid/gid", f[0], idx);
            c->has_user = 1; c->uid = (uid_t)u; c->gid = (gid_t)g;
        } else if (!strcmp(key, "groups")) {
            NEED(1);
            c->has_groups = 1;
            const char *s = f[0];
            while (*s) {
                char *e2;
                errno = 0;
                unsigned long g = strtoul(s, &e2, 10);
                if (errno || e2 == s || (*e2 && *e2 != ',')) return fail(err, 0, "groups \"%s\" malformed", f[0], idx);
                PUSH(c->groups, c->ngroups, (gid_t)g);
                s = *e2 ? e2 + 1 : e2;
            }
        } else if (!strcmp(key, "caps")) {
            NEED(5);
            if (parse_u64(f[0], 16, &c->cap_bounding) || parse_u64(f[1], 16, &c->cap_effective)
                || parse_u64(f[2], 16, &c->cap_permitted) || parse_u64(f[3], 16, &c->cap_inheritable)
                || parse_u64(f[4], 16, &c->cap_ambient))
                return fail(err, 0, "caps: masks must be hexadecimal", NULL, idx);
            c->has_caps = 1;
        } else if (!strcmp(key, "no_new_privs")) { NEED(1); c->no_new_privs = f[0][0] == '1'; }
        else if (!strcmp(key, "seccomp")) { NEED(1); c->seccomp_path = f[0]; }
        else if (!strcmp(key, "cgroup")) { NEED(1); PUSH(c->cgroups, c->ncgroups, f[0]); }
        else if (!strcmp(key, "oom_events")) { NEED(1); c->oom_events = f[0]; }
        else if (!strcmp(key, "log")) { NEED(1); c->log = f[0]; }
        else if (!strcmp(key, "exit_file")) { NEED(1); c->exit_file = f[0]; }
        else if (!strcmp(key, "pid_file")) { NEED(1); c->pid_file = f[0]; }
        else if (!strcmp(key, "foreground")) { NEED(1); c->foreground = f[0][0] == '1'; }
        else if (!strcmp(key, "tty")) { NEED(1); c->tty = f[0][0] == '1'; }
        else if (!strcmp(key, "terminal")) { NEED(1); c->terminal = f[0][0] == '1'; }
        else if (!strcmp(key, "stdin")) {
            NEED(2);
            if (f[0][0] != '/') return fail(err, 0, "stdin socket %s is not absolute", f[0], idx);
            c->stdin_socket = f[0];
            c->stdin_once = f[1][0] == '1';
        }
        else if (!strcmp(key, "log_max")) { NEED(2); c->log_max_bytes = atoll(f[0]); c->log_max_files = atoi(f[1]); }
        else if (!strcmp(key, "cleanup_umount")) { NEED(1); PUSH(c->cleanup_umount, c->ncleanup_umount, f[0]); }
        else if (!strcmp(key, "cleanup_rmdir")) { NEED(1); PUSH(c->cleanup_rmdir, c->ncleanup_rmdir, f[0]); }
        else if (!strcmp(key, "cleanup_rmtree")) { NEED(1); PUSH(c->cleanup_rmtree, c->ncleanup_rmtree, f[0]); }
        else return fail(err, 0, "unknown key \"%s\"", key, idx);
    }
#undef FIELD
#undef NEED
    if (!c->rootfs) return fail(err, 0, "no rootfs given", NULL, idx);
    if (c->argc == 0) return fail(err, 0, "no arg given (nothing to execute)", NULL, idx);
    if (!c->envp) {
        c->envp = calloc(1, sizeof *c->envp);
        if (!c->envp) return fail(err, ENOMEM, "out of memory", NULL, idx);
    }
    return 0;
}

int skiff_config_load_seccomp(struct skiff_config *c, struct skiff_spawn_error *err) {
    if (!c->seccomp_path) return 0;
    char *buf;
    size_t len;
    if (read_file(c->seccomp_path, &buf, &len, 1 << 20) < 0) {
        err->stage = SKIFF_STAGE_SECCOMP;
        err->err = errno;
        snprintf(err->detail, sizeof err->detail, "%s", c->seccomp_path);
        return -1;
    }
    if (len == 0 || len % 8 != 0 || len / 8 > 0xffff) {
        free(buf);
        err->stage = SKIFF_STAGE_SECCOMP;
        err->err = EINVAL;
        snprintf(err->detail, sizeof err->detail, "%s is not a BPF program", c->seccomp_path);
        return -1;
    }
    c->seccomp_prog = buf;
    c->seccomp_len = len;
    return 0;
}

void skiff_config_free(struct skiff_config *c) {
    free(c->buf); free(c->argv); free(c->envp); free(c->mounts); free(c->devices); free(c->symlinks);
    free(c->masked); free(c->readonly); free(c->rlimits); free(c->groups); free(c->seccomp_prog);
    free(c->cgroups); free(c->cleanup_umount); free(c->cleanup_rmdir); free(c->cleanup_rmtree);
    memset(c, 0, sizeof *c);
}
