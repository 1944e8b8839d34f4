/* skiff-monitor SPAWN_FILE [READY_FD]
 *
 * One small process per container (like conmon): launches it through the shim, owns its
 * stdout/stderr (CRI log lines: "<RFC3339Nano> <stream> <P|F> <text>"), reaps it, records the
 * exit (code, signal, OOM kill) atomically, runs --rm cleanup. Plain libc, small buffers: it must
 * stay under 1 MiB RSS.
 *
 * Detached (READY_FD given): reports {stage 0, err = pid} or the failure on READY_FD, then keeps
 * running in its own session. Foreground (`foreground 1`): also copies output to its own
 * stdout/stderr, forwards INT/TERM/HUP/QUIT, and exits with the container's exit code.
 *
 * With `stdin SOCKET ONCE` the container's stdin is a pipe (or its terminal, with `terminal 1`)
 * fed from the attach socket, whose clients also get the output live (attach.c).
 *
 * skiff-monitor --exec SPAWN_FILE: runs one process inside a running container (the spawn file
 * joins its namespaces and cgroups) on this process's own stdio, forwards signals to it, and
 * exits with its exit code (128+signal) — `kubectl exec`. Launch failures: 126/127 with the
 * reason on stderr.
 *
 * skiff-monitor --pause: the process of a pod sandbox (Kubernetes' "pause" container). It holds
 * the pod's namespaces, reaps orphans when it is PID 1 of a shared PID namespace, and exits 0
 * on SIGTERM/SIGINT. The node copies this static binary into the sandbox's root.
 */
#define _GNU_SOURCE
#include "skiff_spawn.h"
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384

struct stream {
    int fd;               /* read end of the container's pipe, -1 once closed */
    const char *name;     /* "stdout" / "stderr" */
    int channel;          /* its attach channel: 1 stdout, 2 stderr */
    int tee;              /* foreground: our own fd to copy to, or -1 */
    char line[LINE_MAX_BYTES];
    size_t used;
};

static int log_fd = -1;
/* Rotation (kubelet's containerLogMaxSize/MaxFiles): past log_max bytes the log is renamed to
 * LOG.1 (LOG.1 to LOG.2, ...; the oldest beyond log_files-1 is dropped) and a new LOG begun. */
static const char *log_path;
static long long log_size, log_max;
static int log_files;

static void rotate_log(void) {
    char from[4096], to[4096];
    for (int i = log_files - 1; i >= 1; i--) {
        if (i == 1) snprintf(from, sizeof from, "%s", log_path); else snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", log_path, i);
        rename(from, to);   /* over the oldest; a missing source is fine */
    }
    if (log_files <= 1) unlink(log_path);
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) { close(log_fd); log_fd = fd; log_size = 0; }
}

static void timestamp(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%09ldZ", ts.tv_nsec);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        p += w;
        n -= (size_t)w;
    }
}

/* One CRI log record for `n` bytes of text (no newline inside). */
static void log_record(const struct stream *s, const char *text, size_t n, int partial) {
    if (log_fd < 0) return;
    char head[80];
    timestamp(head, sizeof head);
    size_t h = strlen(head);
    h += (size_t)snprintf(head + h, sizeof head - h, " %s %c ", s->name, partial ? 'P' : 'F');
    /* One write per record keeps concurrent stdout/stderr records whole (O_APPEND). */
    char buf[LINE_MAX_BYTES + 96];
    memcpy(buf, head, h);
    memcpy(buf + h, text, n);
    buf[h + n] = '\n';
    write_all(log_fd, buf, h + n + 1);
    log_size += (long long)(h + n + 1);
    if (log_max > 0 && log_size >= log_max) rotate_log();
}

/* Splits new bytes into lines; a line longer than the buffer goes out as P records. */
static void consume(struct stream *s, const char *data, size_t n) {
    if (s->tee >= 0) write_all(s->tee, data, n);
    attach_output(s->channel, data, n);
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            log_record(s, s->line, s->used, 0);
            s->used = 0;
        } else {
            if (s->used == sizeof s->line) {
                log_record(s, s->line, s->used, 1);
                s->used = 0;
            }
            s->line[s->used++] = data[i];
        }
    }
}

static void flush_stream(struct stream *s) {
    if (s->used) log_record(s, s->line, s->used, 0);
    s->used = 0;
}

/* Reads what is available; returns 0 at EOF (fd closed), 1 otherwise. */
static int pump(struct stream *s) {
    char buf[8192];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n > 0) { consume(s, buf, (size_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 1;
        close(s->fd);
        s->fd = -1;
        flush_stream(s);
        return 0;
    }
}

static int write_file_atomic(const char *path, const char *text) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    write_all(fd, text, strlen(text));
    close(fd);
    return rename(tmp, path);
}

/* Reads a small file into buf (NUL-terminated); returns its length or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    return n;
}

static unsigned long long start_time_of(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (read_small(path, buf, sizeof buf) <= 0) return 0;
    char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    if (!p) return 0;
    /* Field 22 (starttime); after ')' comes field 3. */
    int field = 2;
    for (; *p && field < 22; p++) if (*p == ' ') field++;
    return strtoull(p, NULL, 10);
}

static long long oom_kills(const char *path) {
    char buf[2048];
    if (!path || read_small(path, buf, sizeof buf) <= 0) return 0;
    char *p = strstr(buf, "oom_kill ");
    return p ? strtoll(p + 9, NULL, 10) : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)ftw;
    if (flag == FTW_DP) rmdir(path); else unlink(path);
    return 0;
}

static void cleanup(const struct skiff_config *c) {
    for (size_t i = 0; i < c->ncleanup_umount; i++) umount2(c->cleanup_umount[i], MNT_DETACH);
    for (size_t i = 0; i < c->ncleanup_rmdir; i++) {
        /* The kernel frees a cgroup asynchronously after its last task exits: retry briefly. */
        for (int tries = 0; tries < 50; tries++) {
            if (rmdir(c->cleanup_rmdir[i]) == 0 || errno == ENOENT) break;
            if (errno != EBUSY) break;
            struct timespec d = { 0, 2 * 1000 * 1000 };
            nanosleep(&d, NULL);
        }
    }
    for (size_t i = 0; i < c->ncleanup_rmtree; i++)
        nftw(c->cleanup_rmtree[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* The --rm cleanup removes the directory holding the exit record: writing it would only cost time. */
static int removed_by_cleanup(const struct skiff_config *c, const char *path) {
    for (size_t i = 0; i < c->ncleanup_rmtree; i++) {
        size_t n = strlen(c->cleanup_rmtree[i]);
        if (strncmp(path, c->cleanup_rmtree[i], n) == 0 && path[n] == '/') return 1;
    }
    return 0;
}

static void ready(int fd, const struct skiff_spawn_error *e) {
    if (fd < 0) return;
    write_all(fd, (const char *)e, sizeof *e);
    close(fd);
}

static int fail_early(const struct skiff_config *c, int ready_fd, const struct skiff_spawn_error *e, int foreground) {
    if (ready_fd >= 0) ready(ready_fd, e);
    if (foreground || ready_fd < 0) {
        char msg[512];
        skiff_format_error(e, msg, sizeof msg);
        dprintf(2, "skiff: %s\n", msg);
    }
    if (c) cleanup(c);
    if (e->stage == SKIFF_STAGE_EXEC) return e->err == ENOENT ? 127 : 126;
    return 125;
}

/* stdin: a pipe the monitor keeps the write end of (not with a terminal: that is its stdin);
 * terminal: a socket pair the child sends the pty master over. Then the attach socket. */
static int open_stdin(struct skiff_config *c, int input[2], int console[2], struct skiff_spawn_error *err) {
    const char *what = NULL;
    if (c->terminal && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, console) < 0) what = "terminal socket pair";
    else if (c->stdin_socket && !c->terminal && pipe2(input, O_CLOEXEC) < 0) what = "stdin pipe";
    else if (c->stdin_socket && attach_listen(c->stdin_socket) < 0) what = c->stdin_socket;
    if (!what) return 0;
    err->stage = SKIFF_STAGE_STDIO;
    err->err = errno;
    snprintf(err->detail, sizeof err->detail, "%s", what);
    return -1;
}

/* The pty master the child sent (SCM_RIGHTS), or -1. */
static int receive_fd(int sock) {
    char byte;
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) { if (n >= 0) errno = EPROTO; return -1; }
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

static int pause_main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGCHLD) { while (waitpid(-1, NULL, WNOHANG) > 0) {} continue; }
        return 0;
    }
}

static int exec_main(const char *path) {
    syscall(SYS_close_range, 3U, ~0U, 0U);
    struct skiff_config cfg;
    struct skiff_spawn_error err;
    if (skiff_config_parse(path, &cfg, &err) < 0) return fail_early(NULL, -1, &err, 1);
    if (skiff_config_load_seccomp(&cfg, &err) < 0) return fail_early(&cfg, -1, &err, 1);
    sigset_t mask;
    sigemptyset(&mask);
    int forwarded[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT };
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&mask, forwarded[i]);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int stdio[3] = { 0, 1, 2 };
    pid_t pid = skiff_spawn(&cfg, stdio, &err);
    if (pid < 0) return fail_early(&cfg, -1, &err, 1);
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) { if (errno == EINTR) continue; return 125; }
        if (si.ssi_signo != SIGCHLD) { kill(pid, (int)si.ssi_signo); continue; }
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--pause")) return pause_main();
    if (argc == 3 && !strcmp(argv[1], "--exec")) return exec_main(argv[2]);
    if (argc < 2 || argc > 3) {
        dprintf(2, "usage: skiff-monitor SPAWN_FILE [READY_FD]\n");
        return 125;
    }
    int ready_fd = argc == 3 ? atoi(argv[2]) : -1;
    /* Whatever the launcher leaked to us (other pipes of a busy parent) must not be held open
     * for the container's lifetime: keep only stdio and the ready pipe. */
    if (ready_fd > 3) syscall(SYS_close_range, 3U, (unsigned)ready_fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)(ready_fd >= 3 ? ready_fd + 1 : 3), ~0U, 0U);
    if (ready_fd >= 0) {
        fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
        /* Detached: leave the launcher at once (it reaps this first process), so a long-lived
         * launcher never collects zombie monitors; the grandchild is reparented to init. */
        pid_t p = fork();
        if (p < 0) return 125;
        if (p > 0) _exit(0);
        setsid();
    }
    struct skiff_config cfg;
    struct skiff_spawn_error err;
    if (skiff_config_parse(argv[1], &cfg, &err) < 0) return fail_early(NULL, ready_fd, &err, 1);
    if (skiff_config_load_seccomp(&cfg, &err) < 0) return fail_early(&cfg, ready_fd, &err, cfg.foreground);

    signal(SIGPIPE, SIG_IGN);
    if (!cfg.foreground) signal(SIGHUP, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGQUIT);
    if (cfg.foreground) sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    if (cfg.log) {
        log_fd = open(cfg.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        struct stat st;
        if (log_fd >= 0 && fstat(log_fd, &st) == 0) log_size = st.st_size;
        log_path = cfg.log;
        log_max = cfg.log_max_bytes;
        log_files = cfg.log_max_files > 0 ? cfg.log_max_files : 5;
    }
    int out[2], errp[2];
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || devnull < 0) {
        err.stage = SKIFF_STAGE_STDIO;
        err.err = errno;
        return fail_early(&cfg, ready_fd, &err, cfg.foreground);
    }
    int stdio[3] = { devnull, out[1], errp[1] };
    int input[2] = { -1, -1 }, console[2] = { -1, -1 };
    if (open_stdin(&cfg, input, console, &err) < 0) return fail_early(&cfg, ready_fd, &err, cfg.foreground);
    if (input[0] >= 0) stdio[0] = input[0];
    cfg.console_sock = console[1];
    /* SIGCHLD stays blocked (queued for the signalfd) even if the container exits at once;
     * the child resets its own mask and dispositions. */
    pid_t pid = skiff_spawn(&cfg, stdio, &err);
    close(out[1]);
    close(errp[1]);
    close(devnull);
    if (input[0] >= 0) close(input[0]);
    if (console[1] >= 0) close(console[1]);
    if (pid < 0) { attach_shutdown(); return fail_early(&cfg, ready_fd, &err, cfg.foreground); }
    int terminal = -1;
    if (cfg.terminal) {
        terminal = receive_fd(console[0]);
        close(console[0]);
        if (terminal < 0) {
            err = (struct skiff_spawn_error){ SKIFF_STAGE_STDIO, errno, "receiving the container's terminal" };
            kill(pid, SIGKILL);
            attach_shutdown();
            return fail_early(&cfg, ready_fd, &err, cfg.foreground);
        }
        /* The terminal is the output: the pipes' last writers were replaced by it. */
        close(out[0]);
        out[0] = terminal;
        if (cfg.stdin_socket) attach_set_stdin(fcntl(terminal, F_DUPFD_CLOEXEC, 3), 1, cfg.stdin_once);
    } else if (input[1] >= 0) {
        attach_set_stdin(input[1], 0, cfg.stdin_once);
    }

    char started[64];
    timestamp(started, sizeof started);
    if (cfg.pid_file) {
        char text[64];
        /* The monitor's own identity too: a reader can tell "exit being recorded" from "monitor killed". */
        snprintf(text, sizeof text, "%d %llu %d %llu\n", pid, start_time_of(pid), getpid(), start_time_of(getpid()));
        write_file_atomic(cfg.pid_file, text);
    }
    struct skiff_spawn_error ok = { 0, pid, { 0 } };
    ready(ready_fd, &ok);

    struct stream streams[2] = {
        { out[0], "stdout", 1, cfg.foreground ? 1 : -1, { 0 }, 0 },
        { errp[0], "stderr", 2, cfg.foreground ? 2 : -1, { 0 }, 0 },
    };
    for (int i = 0; i < 2; i++) fcntl(streams[i].fd, F_SETFL, O_NONBLOCK);

    int status = 0, exited = 0;
    while (!exited || streams[0].fd >= 0 || streams[1].fd >= 0) {
        struct pollfd fds[16];
        int n = 0;
        fds[n++] = (struct pollfd){ sfd, POLLIN, 0 };
        for (int i = 0; i < 2; i++) if (streams[i].fd >= 0) fds[n++] = (struct pollfd){ streams[i].fd, POLLIN, 0 };
        n += attach_poll_fds(fds + n, (int)(sizeof fds / sizeof fds[0]) - n);
        /* After the exit, leftover writers (a shared pid namespace) may hold the pipes: drain, then stop. */
        int rc = poll(fds, (nfds_t)n, exited ? 100 : -1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc == 0 && exited) break;
        for (int i = 0; i < 2; i++) if (streams[i].fd >= 0) pump(&streams[i]);
        attach_service();
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo != SIGCHLD) { if (!exited) kill(pid, (int)si.ssi_signo); continue; }
            int st;
            pid_t w;
            while ((w = waitpid(-1, &st, WNOHANG)) > 0) if (w == pid) { status = st; exited = 1; }
        }
    }
    for (int i = 0; i < 2; i++) if (streams[i].fd >= 0) { flush_stream(&streams[i]); close(streams[i].fd); }

    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int oom = oom_kills(cfg.oom_events) > 0;
    if (cfg.exit_file && !removed_by_cleanup(&cfg, cfg.exit_file)) {
        char finished[64], text[512];
        timestamp(finished, sizeof finished);
        snprintf(text, sizeof text,
                 "{\"exitCode\":%d,\"signal\":%d,\"oomKilled\":%s,\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}\n",
                 code, sig, oom ? "true" : "false", started, finished);
        write_file_atomic(cfg.exit_file, text);
    }
    if (log_fd >= 0) close(log_fd);
    /* After the exit record: an attached client that sees the end finds the exit code. */
    attach_shutdown();
    cleanup(&cfg);
    return cfg.foreground ? code : 0;
}
