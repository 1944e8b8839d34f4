/*
 * skiff_spawn.h — the parsed spawn file and the launch call (used by skiff-monitor).
 * See skiff_shim.h for the file format.
 */
#ifndef SKIFF_SPAWN_H
#define SKIFF_SPAWN_H

#include "skiff_shim.h"
#include <stdint.h>
#include <sys/types.h>
#include <sys/resource.h>

#ifdef __cplusplus
extern "C" {
#endif

struct skiff_mount { const char *src, *dst, *fstype, *data; unsigned long flags; };
/* A mount's propagation bits (MS_PRIVATE | MS_SLAVE | MS_SHARED), applied after the mount itself. */
#define SKIFF_PROPAGATION_FLAGS ((1UL << 18) | (1UL << 19) | (1UL << 20))
struct skiff_device { const char *path; char type; unsigned major, minor; mode_t mode; uid_t uid; gid_t gid; };
struct skiff_symlink { const char *target, *link; };
struct skiff_ns { int type; const char *path; /* NULL: new */ };
struct skiff_rlimit { int resource; rlim_t soft, hard; };

#define SKIFF_MAX_NS 8

struct skiff_config {
    char *buf;                 /* the file's bytes: every string below points into it */
    size_t len;
    const char *rootfs, *cwd, *hostname;
    const char **argv; size_t argc;         /* argv/envp are NULL-terminated */
    const char **envp; size_t envc;
    struct skiff_ns ns[SKIFF_MAX_NS]; size_t nns;
    struct skiff_mount *mounts; size_t nmounts;
    struct skiff_device *devices; size_t ndevices;
    struct skiff_symlink *symlinks; size_t nsymlinks;
    const char **masked; size_t nmasked;
    const char **readonly; size_t nreadonly;
    int readonly_rootfs;
    unsigned long propagation;              /* MS_PRIVATE (default), MS_SLAVE or MS_SHARED */
    struct skiff_rlimit *rlimits; size_t nrlimits;
    int has_user; uid_t uid; gid_t gid;
    int has_groups; gid_t *groups; size_t ngroups;
    int has_caps; uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int no_new_privs;
    const char *seccomp_path; void *seccomp_prog; size_t seccomp_len;   /* loaded by skiff_config_load_seccomp */
    const char **cgroups; size_t ncgroups;
    const char *oom_events, *log, *exit_file, *pid_file;
    long long log_max_bytes; int log_max_files;
    int foreground;
    int tty;
    int terminal;              /* the container's stdio is a pty of its own devpts (tty: true) */
    int console_sock;          /* set by the monitor, not parsed: the child sends the pty master there */
    const char *stdin_socket; int stdin_once;   /* the monitor's attach socket relaying to stdin */
    const char **cleanup_umount; size_t ncleanup_umount;
    const char **cleanup_rmdir; size_t ncleanup_rmdir;
    const char **cleanup_rmtree; size_t ncleanup_rmtree;
};

/* Parses a spawn file. On failure fills *err (stage CONFIG, detail says which record/key). */
int skiff_config_parse(const char *path, struct skiff_config *cfg, struct skiff_spawn_error *err);
/* Reads the seccomp BPF file named in the config into memory (before clone). */
int skiff_config_load_seccomp(struct skiff_config *cfg, struct skiff_spawn_error *err);
void skiff_config_free(struct skiff_config *cfg);

/* Launches the container: clone into new namespaces, set everything up, exec.
 * stdio: the fds the container gets as 0, 1, 2. Returns the child pid (in the caller's pid
 * namespace) once exec succeeded, or -1 with *err filled (the child has been reaped). */
pid_t skiff_spawn(const struct skiff_config *cfg, const int stdio[3], struct skiff_spawn_error *err);

/* "stage: strerror (detail)" into buf. */
void skiff_format_error(const struct skiff_spawn_error *err, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
