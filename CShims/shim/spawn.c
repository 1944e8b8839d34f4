/* The container launch: clone into new namespaces, then — in the child, with raw syscalls only —
 * cgroups, namespaces, mounts, pivot_root, masks, rlimits, identity, capabilities, seccomp, exec.
 * A failing step sends {stage, errno, detail} over a CLOEXEC pipe; EOF there means exec worked.
 * Order and tricks follow runc/crun (rootfs bind, pivot_root(".", "."), caps before setuid). */
#define _GNU_SOURCE
#include "skiff_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/vfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* ---- child-side helpers: no allocation, no stdio, only syscalls and string copies ---- */

static int errfd_g = -1;

static void report(int stage, int err, const char *detail) {
    struct skiff_spawn_error e;
    memset(&e, 0, sizeof e);
    e.stage = stage;
    e.err = err;
    if (detail) {
        size_t n = strlen(detail);
        if (n >= sizeof e.detail) n = sizeof e.detail - 1;
        memcpy(e.detail, detail, n);
    }
    ssize_t unused = write(errfd_g, &e, sizeof e);
    (void)unused;
    _exit(127);
}

#define CHECK(expr, stage, detail) do { if ((expr) < 0) report((stage), errno, (detail)); } while (0)

static long openat2_in_root(int rootfd, const char *path, int flags) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Opens `path` (absolute, inside the container) resolving symlinks as if the rootfs were "/",
 * so a hostile image cannot redirect a mount onto the host. Creates missing directories
 * (and the last component as a dir or an empty file). Returns an O_PATH fd. */
static int open_in_root(int rootfd, const char *path, int make_file) {
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, len + 1);
    long fd = openat2_in_root(rootfd, buf, O_PATH);
    if (fd >= 0 || errno != ENOENT) return (int)fd;
    /* Walk the prefixes, creating what is missing. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char saved = buf[i];
        buf[i] = 0;
        long pfd = openat2_in_root(rootfd, buf, O_PATH);
        if (pfd < 0 && errno == ENOENT) {
            char *slash = strrchr(buf, '/');
            const char *name = slash + 1;
            int parent;
            if (slash == buf) { parent = (int)openat2_in_root(rootfd, "/", O_PATH); }
            else { *slash = 0; parent = (int)openat2_in_root(rootfd, buf, O_PATH); *slash = '/'; }
            if (parent < 0) return -1;
            int rc;
            if (saved == 0 && make_file) {
                int f = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                rc = f < 0 ? -1 : 0;
                if (f >= 0) close(f);
            } else {
                rc = mkdirat(parent, name, 0755);
            }
            int e = errno;
            close(parent);
            if (rc < 0 && e != EEXIST) { errno = e; return -1; }
            pfd = openat2_in_root(rootfd, buf, O_PATH);
        }
        if (pfd < 0) return -1;
        if (saved == 0) return (int)pfd;
        close((int)pfd);
        buf[i] = saved;
    }
    errno = ENOENT;
    return -1;
}

static void fdpath(char *out, size_t cap, int fd) {
    snprintf(out, cap, "/proc/self/fd/%d", fd);   /* snprintf is async-signal-safe enough for ints */
}

/* MS_* flags of the mount at `path` that a bind remount must keep. */
static unsigned long locked_flags(const char *path) {
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void do_mounts(const struct skiff_config *c, int rootfd) {
    char target[64];
    for (size_t i = 0; i < c->nmounts; i++) {
        const struct skiff_mount *m = &c->mounts[i];
        int is_bind = (m->flags & MS_BIND) != 0;
        int file_target = 0;
        if (is_bind) {
            struct stat st;
            if (stat(m->src, &st) == 0 && !S_ISDIR(st.st_mode)) file_target = 1;
        }
        int fd = open_in_root(rootfd, m->dst, file_target);
        if (fd < 0) report(SKIFF_STAGE_MOUNT, errno, m->dst);
        fdpath(target, sizeof target, fd);
        /* Propagation (a bind's rprivate/rslave/rshared) can't be combined with other flags in
         * one mount(2): it is applied last, on its own. */
        unsigned long propagation = m->flags & SKIFF_PROPAGATION_FLAGS;
        unsigned long flags = m->flags & ~SKIFF_PROPAGATION_FLAGS;
        const char *data = m->data[0] ? m->data : NULL;
        if (mount(m->src, target, m->fstype[0] ? m->fstype : NULL, is_bind ? (flags & (MS_BIND | MS_REC)) : flags, data) < 0) {
            /* sysfs can't be mounted without a private netns: bind the host's instead, read-only. */
            if (errno == EPERM && !strcmp(m->fstype, "sysfs")) {
                if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0) report(SKIFF_STAGE_MOUNT, errno, m->dst);
                is_bind = 1;
                flags |= MS_BIND | MS_RDONLY;
            } else {
                report(SKIFF_STAGE_MOUNT, errno, m->dst);
            }
        }
        if (is_bind && ((flags & ~(MS_BIND | MS_REC)) || propagation)) {
            /* The fd names the directory the bind now covers: reopen to reach the new mount. */
            close(fd);
            fd = open_in_root(rootfd, m->dst, file_target);
            if (fd < 0) report(SKIFF_STAGE_MOUNT, errno, m->dst);
            fdpath(target, sizeof target, fd);
        }
        if (is_bind && (flags & ~(MS_BIND | MS_REC))) {
            unsigned long keep = locked_flags(target);
            if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | keep | (flags & ~MS_REC), NULL) < 0)
                report(SKIFF_STAGE_MOUNT, errno, m->dst);
        }
        if (propagation && mount(NULL, target, NULL, propagation | (flags & MS_REC), NULL) < 0)
            report(SKIFF_STAGE_MOUNT, errno, m->dst);
        close(fd);
    }
}

/* Opens, as a real directory fd, the parent of `path` inside the rootfs (created if missing);
 * *name gets the last component. O_PATH fds can't be used with mknodat/symlinkat. */
static int open_parent_dir(int rootfd, const char *path, const char **name, int stage) {
    const char *slash = strrchr(path, '/');
    char parent_path[512], target[64];
    size_t plen = slash ? (size_t)(slash - path) : 0;
    if (!slash || plen >= sizeof parent_path) report(stage, EINVAL, path);
    memcpy(parent_path, path, plen);
    parent_path[plen] = 0;
    int parent = open_in_root(rootfd, plen ? parent_path : "/", 0);
    if (parent < 0) report(stage, errno, path);
    fdpath(target, sizeof target, parent);
    int dir = open(target, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (dir < 0) report(stage, errno, path);
    close(parent);
    *name = slash + 1;
    return dir;
}

static void do_devices(const struct skiff_config *c, int rootfd) {
    for (size_t i = 0; i < c->ndevices; i++) {
        const struct skiff_device *d = &c->devices[i];
        const char *name;
        int dir = open_parent_dir(rootfd, d->path, &name, SKIFF_STAGE_DEVICE);
        mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
        unlinkat(dir, name, 0);
        if (mknodat(dir, name, type | (d->mode & 07777), makedev(d->major, d->minor)) == 0) {
            if (fchownat(dir, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0) report(SKIFF_STAGE_DEVICE, errno, d->path);
            if (fchmodat(dir, name, d->mode & 07777, 0) < 0) report(SKIFF_STAGE_DEVICE, errno, d->path);
        } else if (errno == EPERM) {
            /* Not allowed to create nodes (e.g. a user namespace): bind the host's node. */
            int f = openat(dir, name, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (f < 0) report(SKIFF_STAGE_DEVICE, errno, d->path);
            char fp[64];
            fdpath(fp, sizeof fp, f);
            if (mount(d->path, fp, NULL, MS_BIND, NULL) < 0) report(SKIFF_STAGE_DEVICE, errno, d->path);
            close(f);
        } else {
            report(SKIFF_STAGE_DEVICE, errno, d->path);
        }
        close(dir);
    }
}

static void do_symlinks(const struct skiff_config *c, int rootfd) {
    for (size_t i = 0; i < c->nsymlinks; i++) {
        const struct skiff_symlink *s = &c->symlinks[i];
        const char *name;
        int dir = open_parent_dir(rootfd, s->link, &name, SKIFF_STAGE_SYMLINK);
        if (symlinkat(s->target, dir, name) < 0 && errno != EEXIST) report(SKIFF_STAGE_SYMLINK, errno, s->link);
        close(dir);
    }
}

/* After pivot_root, paths are the container's own. */
static void do_masks(const struct skiff_config *c) {
    for (size_t i = 0; i < c->nmasked; i++) {
        struct stat st;
        const char *p = c->masked[i];
        if (lstat(p, &st) < 0) { if (errno == ENOENT) continue; report(SKIFF_STAGE_MASK, errno, p); }
        int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k")
                                     : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (rc < 0) report(SKIFF_STAGE_MASK, errno, p);
    }
    for (size_t i = 0; i < c->nreadonly; i++) {
        const char *p = c->readonly[i];
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT) continue;
            report(SKIFF_STAGE_READONLY_PATH, errno, p);
        }
        if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(p), NULL) < 0)
            report(SKIFF_STAGE_READONLY_PATH, errno, p);
    }
}

static void load_seccomp(const struct skiff_config *c) {
    struct sock_fprog prog = { (unsigned short)(c->seccomp_len / 8), (struct sock_filter *)c->seccomp_prog };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) report(SKIFF_STAGE_SECCOMP, errno, c->seccomp_path);
}

static void do_identity_and_caps(const struct skiff_config *c) {
    if (c->seccomp_prog && !c->no_new_privs) load_seccomp(c);   /* needs CAP_SYS_ADMIN: still held */
    if (c->has_caps) {
        for (int cap = 0; cap <= 63; cap++) {
            if (c->cap_bounding & (1ULL << cap)) continue;
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
            /* EINVAL: past the kernel's last capability, and so is every higher one (no more calls). */
            if (errno == EINVAL) break;
            report(SKIFF_STAGE_CAPS, errno, "bounding set");
        }
        CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), SKIFF_STAGE_CAPS, "keepcaps");
    }
    if (c->has_groups) CHECK(setgroups(c->ngroups, c->groups), SKIFF_STAGE_GROUPS, NULL);
    if (c->has_user) {
        CHECK(setresgid(c->gid, c->gid, c->gid), SKIFF_STAGE_SETGID, NULL);
        CHECK(setresuid(c->uid, c->uid, c->uid), SKIFF_STAGE_SETUID, NULL);
    }
    if (c->has_caps) {
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];
        data[0].effective = (uint32_t)c->cap_effective;
        data[1].effective = (uint32_t)(c->cap_effective >> 32);
        data[0].permitted = (uint32_t)c->cap_permitted;
        data[1].permitted = (uint32_t)(c->cap_permitted >> 32);
        data[0].inheritable = (uint32_t)c->cap_inheritable;
        data[1].inheritable = (uint32_t)(c->cap_inheritable >> 32);
        CHECK(syscall(SYS_capset, &hdr, data), SKIFF_STAGE_CAPS, "capset");
        CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), SKIFF_STAGE_CAPS, "keepcaps");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
            report(SKIFF_STAGE_CAPS, errno, "ambient");
        for (int cap = 0; cap <= 63; cap++)
            if (c->cap_ambient & (1ULL << cap)) CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), SKIFF_STAGE_CAPS, "ambient raise");
    }
    if (c->no_new_privs) CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), SKIFF_STAGE_NO_NEW_PRIVS, NULL);
}

/* execve with PATH taken from the container's env, not ours (glibc's execvpe uses the caller's). */
static void exec_command(const struct skiff_config *c) {
    const char *file = c->argv[0];
    char *const *argv = (char *const *)c->argv;
    char *const *envp = (char *const *)c->envp;
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        report(SKIFF_STAGE_EXEC, errno, file);
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (size_t i = 0; i < c->envc; i++)
        if (!strncmp(c->envp[i], "PATH=", 5)) path = c->envp[i] + 5;
    int saw_eacces = 0;
    char candidate[4096];
    for (const char *p = path; ; ) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        size_t flen = strlen(file);
        if (dlen + flen + 2 <= sizeof candidate) {
            memcpy(candidate, dlen ? p : ".", dlen ? dlen : 1);
            size_t off = dlen ? dlen : 1;
            candidate[off] = '/';
            memcpy(candidate + off + 1, file, flen + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) report(SKIFF_STAGE_EXEC, errno, file);
        }
        if (!colon) break;
        p = colon + 1;
    }
    report(SKIFF_STAGE_EXEC, saw_eacces ? EACCES : ENOENT, file);
}

/* A new network namespace starts with lo down: bring it up, as the CNI loopback plugin and
 * runc do, so 127.0.0.1 works inside (probes and sidecars rely on it). */
static void loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) report(SKIFF_STAGE_SETNS, errno, "loopback socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) report(SKIFF_STAGE_SETNS, errno, "lo flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) report(SKIFF_STAGE_SETNS, errno, "lo up");
    close(fd);
}

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* tty: true — a terminal of the container's own devpts (so ttyname works inside), as runc's
 * console socket: the slave becomes stdio and controlling tty, the master goes to the monitor. */
static void open_terminal(const struct skiff_config *c) {
    int m = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) report(SKIFF_STAGE_STDIO, errno, "/dev/pts/ptmx");
    int unlock = 0;
    CHECK(ioctl(m, TIOCSPTLCK, &unlock), SKIFF_STAGE_STDIO, "unlocking the terminal");
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (s < 0) report(SKIFF_STAGE_STDIO, errno, "opening the terminal's peer");
    if (c->has_user) CHECK(fchown(s, c->uid, (gid_t)-1), SKIFF_STAGE_STDIO, "chown of the terminal");
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    char byte = 't';
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &m, sizeof(int));
    CHECK(sendmsg(c->console_sock, &msg, MSG_NOSIGNAL), SKIFF_STAGE_STDIO, "sending the terminal to the monitor");
    close(m);
    for (int i = 0; i < 3; i++) CHECK(dup2(s, i), SKIFF_STAGE_STDIO, "terminal as stdio");
    if (s > 2) close(s);
    CHECK(setsid(), SKIFF_STAGE_STDIO, "setsid");
    CHECK(ioctl(0, TIOCSCTTY, 0), SKIFF_STAGE_STDIO, "TIOCSCTTY");
}

/* Index of the cgroup joined at clone time (CLONE_INTO_CGROUP), -1 if none. */
static long joined_at_clone = -1;

static int child_main(const struct skiff_config *c, const int stdio[3], int newflags) {
    /* The monitor blocks/ignores signals for its own use; the container starts clean. */
    for (int sig = 1; sig < 32; sig++) if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* stdio first, so anything the process prints lands in its log. */
    for (int i = 0; i < 3; i++)
        if (stdio[i] != i) CHECK(dup2(stdio[i], i), SKIFF_STAGE_STDIO, NULL);
    /* An exec with a terminal: own session, the terminal as controlling tty (job control, ^C). */
    if (c->tty) {
        CHECK(setsid(), SKIFF_STAGE_STDIO, "setsid");
        CHECK(ioctl(0, TIOCSCTTY, 0), SKIFF_STAGE_STDIO, "TIOCSCTTY");
    }

    for (size_t i = 0; i < c->ncgroups; i++) {
        if ((long)i == joined_at_clone) continue;
        int fd = open(c->cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) report(SKIFF_STAGE_CGROUP, errno, c->cgroups[i]);
        close(fd);
    }
    /* A cgroup namespace rooted at the container's own cgroup: created after joining it. */
    for (size_t i = 0; i < c->nns; i++)
        if (c->ns[i].type == CLONE_NEWCGROUP && !c->ns[i].path) CHECK(unshare(CLONE_NEWCGROUP), SKIFF_STAGE_SETNS, "cgroup");
    for (size_t i = 0; i < c->nns; i++) {
        if (!c->ns[i].path || c->ns[i].type == CLONE_NEWPID) continue;
        int fd = open(c->ns[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, c->ns[i].type) < 0) report(SKIFF_STAGE_SETNS, errno, c->ns[i].path);
        close(fd);
    }
    if (newflags & CLONE_NEWNET) loopback_up();
    if (c->hostname && (newflags & CLONE_NEWUTS))
        CHECK(sethostname(c->hostname, strlen(c->hostname)), SKIFF_STAGE_HOSTNAME, c->hostname);

    int new_mnt = (newflags & CLONE_NEWNS) != 0;
    if (new_mnt) {
        CHECK(mount(NULL, "/", NULL, MS_REC | c->propagation, NULL), SKIFF_STAGE_PROPAGATION, "/");
        /* pivot_root refuses a new root whose mount is shared (as runc, make the rootfs's own
         * mount private first: with rshared, "/" and the overlay under it just became shared). */
        if (c->propagation == MS_SHARED && mount(NULL, c->rootfs, NULL, MS_PRIVATE, NULL) < 0 && errno != EINVAL)
            report(SKIFF_STAGE_PROPAGATION, errno, c->rootfs);
        /* pivot_root needs the new root to be a mount point. */
        CHECK(mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL), SKIFF_STAGE_ROOTFS_BIND, c->rootfs);
        int rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) report(SKIFF_STAGE_ROOTFS_BIND, errno, c->rootfs);
        do_mounts(c, rootfd);
        do_devices(c, rootfd);
        do_symlinks(c, rootfd);
        close(rootfd);
        /* A shared tree's old root could pass its unmount on to the host's peers: it is made a
         * slave first, reached through a descriptor (after pivot_root "." is the new root). */
        int oldroot = -1;
        if (c->propagation != MS_PRIVATE) {
            oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
            if (oldroot < 0) report(SKIFF_STAGE_PIVOT_ROOT, errno, "old root");
        }
        CHECK(chdir(c->rootfs), SKIFF_STAGE_PIVOT_ROOT, c->rootfs);
        CHECK(syscall(SYS_pivot_root, ".", "."), SKIFF_STAGE_PIVOT_ROOT, c->rootfs);
        if (oldroot >= 0) {
            CHECK(fchdir(oldroot), SKIFF_STAGE_PIVOT_ROOT, "old root");
            CHECK(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL), SKIFF_STAGE_PIVOT_ROOT, "old root");
            close(oldroot);
        }
        CHECK(umount2(".", MNT_DETACH), SKIFF_STAGE_PIVOT_ROOT, "old root");
        CHECK(chdir("/"), SKIFF_STAGE_PIVOT_ROOT, "/");
        do_masks(c);
        if (c->readonly_rootfs)
            CHECK(mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL),
                  SKIFF_STAGE_READONLY_ROOTFS, "/");
    } else {
        CHECK(chroot(c->rootfs), SKIFF_STAGE_PIVOT_ROOT, c->rootfs);
        CHECK(chdir("/"), SKIFF_STAGE_PIVOT_ROOT, "/");
    }
    if (c->terminal) open_terminal(c);

    for (size_t i = 0; i < c->nrlimits; i++) {
        struct rlimit cur, want = { c->rlimits[i].soft, c->rlimits[i].hard };
        /* Never above the current hard limit: raising it needs CAP_SYS_RESOURCE. */
        if (getrlimit(c->rlimits[i].resource, &cur) == 0) {
            if (want.rlim_max > cur.rlim_max) want.rlim_max = cur.rlim_max;
            if (want.rlim_cur > want.rlim_max) want.rlim_cur = want.rlim_max;
        }
        CHECK(setrlimit(c->rlimits[i].resource, &want), SKIFF_STAGE_RLIMIT, NULL);
    }

    do_identity_and_caps(c);
    if (chdir(c->cwd) < 0) report(SKIFF_STAGE_CWD, errno, c->cwd);
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int fd = 3; fd < 1024; fd++) if (fd != errfd_g) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (c->seccomp_prog && c->no_new_privs) load_seccomp(c);   /* last: as few syscalls as possible after */
    exec_command(c);
    return 127;
}

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* Opens the directory of the config's cgroup v2 join file (".../cgroup.procs" on a cgroup2 fs). */
static int open_v2_cgroup(const struct skiff_config *c, long *index) {
    *index = -1;
    for (size_t i = 0; i < c->ncgroups; i++) {
        const char *p = c->cgroups[i];
        size_t n = strlen(p), suffix = strlen("/cgroup.procs");
        char dir[4096];
        if (n <= suffix || n >= sizeof dir || strcmp(p + n - suffix, "/cgroup.procs") != 0) continue;
        memcpy(dir, p, n - suffix);
        dir[n - suffix] = 0;
        struct statfs sf;
        if (statfs(dir, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) continue;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return -1;
        *index = (long)i;
        return fd;
    }
    return -1;
}

pid_t skiff_spawn(const struct skiff_config *c, const int stdio[3], struct skiff_spawn_error *err) {
    memset(err, 0, sizeof *err);
    int newflags = 0;
    int pidns_fd = -1;
    for (size_t i = 0; i < c->nns; i++) {
        if (!c->ns[i].path) {
            if (c->ns[i].type != CLONE_NEWCGROUP) newflags |= c->ns[i].type;
        } else if (c->ns[i].type == CLONE_NEWPID) {
            pidns_fd = open(c->ns[i].path, O_RDONLY | O_CLOEXEC);
            /* Joining a pid namespace applies to children: switch before clone. */
            if (pidns_fd < 0 || setns(pidns_fd, CLONE_NEWPID) < 0) {
                err->stage = SKIFF_STAGE_SETNS;
                err->err = errno;
                snprintf(err->detail, sizeof err->detail, "%s", c->ns[i].path);
                if (pidns_fd >= 0) close(pidns_fd);
                return -1;
            }
            close(pidns_fd);
        }
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        err->stage = SKIFF_STAGE_CLONE;
        err->err = errno;
        return -1;
    }
    /* Fork-like clone (no CLONE_VM, no new stack): the child runs on a copy of our memory.
     * A cgroup v2 target is entered at clone time (clone3 CLONE_INTO_CGROUP): no migration, so
     * none of the threadgroup lock's RCU sync that writing cgroup.procs costs. */
    pid_t pid = -1;
    int v2fd = open_v2_cgroup(c, &joined_at_clone);
    if (v2fd >= 0) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = (unsigned long long)newflags | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (unsigned long long)v2fd;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
        if (pid < 0) joined_at_clone = -1;   /* old kernel: fall back to clone + cgroup.procs */
    }
    if (pid < 0) pid = (pid_t)syscall(SYS_clone, (unsigned long)(newflags | SIGCHLD), NULL, NULL, NULL, 0);
    if (v2fd >= 0 && pid != 0) close(v2fd);
    if (pid < 0) {
        err->stage = SKIFF_STAGE_CLONE;
        err->err = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        errfd_g = pipefd[1];
        child_main(c, stdio, newflags);
        _exit(127);
    }
    close(pipefd[1]);
    ssize_t n;
    do { n = read(pipefd[0], err, sizeof *err); } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == (ssize_t)sizeof *err) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        err->detail[sizeof err->detail - 1] = 0;
        return -1;
    }
    memset(err, 0, sizeof *err);
    return pid;
}
