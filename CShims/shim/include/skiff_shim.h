/*
 * skiff_shim.h — the C side of the container launch.
 *
 * Everything between clone and exec happens here, in plain C making raw syscalls
 * (no Swift may run in a forked child: see ../shared/DESIGN.md, "The C boundary").
 *
 * The Swift parent prepares a *spawn file*: a flat sequence of records, each record
 * being a key followed by a fixed number of fields, every key and field terminated
 * by a NUL byte. Numbers are decimal ASCII, masks are hexadecimal ASCII (no 0x).
 * Keys may repeat where noted (in order). Unknown keys are an error.
 *
 *   key              fields                                   meaning
 *   ---------------  ---------------------------------------  -----------------------------------------
 *   rootfs           path                                     container root (a mount point or a dir)
 *   arg*             value                                    argv, in order (at least one)
 *   env*             KEY=VALUE                                environment, in order
 *   cwd              path                                     working dir inside the container
 *   hostname         name                                     set when a new UTS namespace is used
 *   ns*              type, how                                type: mnt|pid|uts|ipc|net|cgroup;
 *                                                             how: "new" or a path to a ns file to join.
 *                                                             A type not listed is shared with the host.
 *   mount*           src, dst, fstype, flags, data            dst is inside the rootfs; flags = MS_* (dec);
 *                                                             MS_BIND|MS_RDONLY → bind, then ro remount;
 *                                                             MS_PRIVATE/SLAVE/SHARED (with MS_REC: r*)
 *                                                             applied to the mount last, on their own
 *   device*          path, type(c|b), major, minor, mode(oct), uid, gid
 *   symlink*         target, linkpath                         created inside the rootfs (after mounts)
 *   masked*          path                                     after pivot_root: /dev/null over files,
 *                                                             ro tmpfs over dirs; missing paths ignored
 *   readonly*        path                                     after pivot_root: bind ro; missing ignored
 *   readonly_rootfs  0|1                                      remount / read-only at the end
 *   propagation      private|slave|shared                     propagation of the container's mount tree
 *                                                             (recursive, before the mounts; default
 *                                                             private; slave/shared for volumes mounted
 *                                                             HostToContainer/Bidirectional)
 *   rlimit*          resource(dec), soft, hard                "inf" for RLIM_INFINITY; clamped to the
 *                                                             current hard limit (never raised above it)
 *   user             uid, gid
 *   groups           comma-separated gids (may be empty)
 *   caps             bounding, effective, permitted, inheritable, ambient   (64-bit hex masks)
 *   no_new_privs     0|1
 *   seccomp          path                                     raw BPF (struct sock_filter[]) file, as
 *                                                             exported by libseccomp in the parent
 *   cgroup*          path                                     a file to join by writing "0": v1 tasks, v2 cgroup.procs
 *   oom_events       path                                     memory.events (v2) / memory.oom_control (v1):
 *                                                             "oom_kill N" > 0 at exit → OOM recorded
 *   --- monitor only ---
 *   log              path                                     CRI log file (appended)
 *   log_max          bytes, files                             rotate the log past `bytes` (0: never), keeping
 *                                                             `files` files in all (LOG, LOG.1, ...)
 *   exit_file        path                                     exit record, written atomically at exit
 *   pid_file         path                                     "<pid> <starttime>\n" of the container init
 *   foreground       0|1                                      1: also copy output to own stdout/stderr,
 *                                                             forward SIGINT/TERM/HUP/QUIT, exit with the
 *                                                             container's exit code (128+sig if killed)
 *   tty              0|1                                      1: stdin is a terminal: the process gets a
 *                                                             new session with it as controlling tty
 *   terminal         0|1                                      1: after its mounts the container opens a
 *                                                             pty in its own /dev/pts, takes the slave as
 *                                                             stdio and controlling tty and sends the
 *                                                             master to the monitor (Kubernetes tty: true)
 *   stdin            socket, once(0|1)                        the container's stdin is a pipe (or its
 *                                                             terminal) the monitor keeps open and feeds
 *                                                             from the attach socket at `socket`; once=1
 *                                                             ends it after the first attached stdin ends
 *                                                             (stdinOnce). Protocol: see monitor/attach.h
 *   cleanup_umount*  path                                     --rm: after exit, umount2(MNT_DETACH)
 *   cleanup_rmdir*   path                                     --rm: after exit, rmdir (cgroups)
 *   cleanup_rmtree*  path                                     --rm: after exit, remove recursively
 */
#ifndef SKIFF_SHIM_H
#define SKIFF_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Failing stages reported as "stage + errno". Keep in sync with skiff_stage_name(). */
enum skiff_stage {
    SKIFF_STAGE_NONE = 0,
    SKIFF_STAGE_CONFIG,       /* spawn file unreadable or malformed */
    SKIFF_STAGE_CLONE,
    SKIFF_STAGE_CGROUP,       /* joining a cgroup */
    SKIFF_STAGE_SETNS,
    SKIFF_STAGE_HOSTNAME,
    SKIFF_STAGE_PROPAGATION,
    SKIFF_STAGE_ROOTFS_BIND,
    SKIFF_STAGE_MOUNT,
    SKIFF_STAGE_DEVICE,
    SKIFF_STAGE_SYMLINK,
    SKIFF_STAGE_PIVOT_ROOT,
    SKIFF_STAGE_MASK,
    SKIFF_STAGE_READONLY_PATH,
    SKIFF_STAGE_READONLY_ROOTFS,
    SKIFF_STAGE_RLIMIT,
    SKIFF_STAGE_NO_NEW_PRIVS,
    SKIFF_STAGE_SECCOMP,
    SKIFF_STAGE_GROUPS,
    SKIFF_STAGE_SETGID,
    SKIFF_STAGE_SETUID,
    SKIFF_STAGE_CAPS,
    SKIFF_STAGE_CWD,
    SKIFF_STAGE_EXEC,
    SKIFF_STAGE_STDIO,
    SKIFF_STAGE_COUNT
};

/* Human name of a stage, e.g. "pivot_root", "exec". */
const char *skiff_stage_name(int stage);

/* The error record a failed child (or monitor) reports: stage, errno and a detail string
 * (usually the path or argument involved). Sent over the CLOEXEC error pipe as raw bytes. */
struct skiff_spawn_error {
    int32_t stage;
    int32_t err;
    char detail[240];
};

#ifdef __cplusplus
}
#endif
#endif
