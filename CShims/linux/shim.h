/* Linux headers Swift's Glibc module leaves out (xattrs, device numbers, setns, mallopt, pipe2,
 * posix_spawn's closefrom). Header-only. */
#include <sys/xattr.h>
#include <sys/sysmacros.h>

static inline unsigned long long skiff_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

/* setns(2) for the network namespace (glibc declares setns only with _GNU_SOURCE). Per thread:
 * the node's probes enter a pod's namespace on their own thread to make a socket there. */
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
static inline int skiff_setns_net(int fd) { return (int)syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */); }

/* mallopt(M_ARENA_MAX): malloc.h is not in Swift's Glibc module. */
#include <malloc.h>
static inline int skiff_malloc_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }

/* pipe2(O_CLOEXEC) and posix_spawn_file_actions_addclosefrom_np (glibc 2.34): a host command
 * spawned from a many-threaded agent gets no descriptor but its three pipes, with no fork race. */
#include <fcntl.h>
#include <spawn.h>
static inline int skiff_pipe_cloexec(int fds[2]) { return (int)syscall(SYS_pipe2, fds, O_CLOEXEC); }
static inline int skiff_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

/* Spawn attributes every child of ours starts with: posix_spawnattr_init, no signal blocked
 * (a daemon thread's mask must not leak into its tools or monitors), and a new session when
 * asked (POSIX_SPAWN_SETSID, glibc 2.26). The caller destroys them. */
#include <signal.h>
static inline void skiff_spawnattr_init(posix_spawnattr_t *attr, int new_session) {
    sigset_t none;
    posix_spawnattr_init(attr);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGMASK | (new_session ? 0x80 : 0)));
}
