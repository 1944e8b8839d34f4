/* The attach relay of skiff-monitor: clients of the attach socket feed the container's stdin
 * and receive its output (protocol: attach.h). Single-threaded, non-blocking, fixed buffers. */
#define _GNU_SOURCE
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define MAX_CLIENTS 8

struct client { int fd, carries_stdin, stdin_ended; };

static int listen_fd = -1, dir_fd = -1;
static char bound[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct client clients[MAX_CLIENTS];
static int nclients;
static int stdin_fd = -1, stdin_terminal, stdin_once, stdin_closing;
/* Bytes read from a client and not yet taken by the container: no client is read until empty. */
static char pending[ATTACH_DATA_MAX];
static size_t pending_off, pending_len;

int attach_listen(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) < sizeof addr.sun_path) {
        snprintf(bound, sizeof bound, "%s", path);
    } else {
        /* Too long for sun_path: name it through a descriptor of its directory. */
        const char *slash = strrchr(path, '/');
        char dir[4096];
        size_t n = (size_t)(slash - path);
        if (n == 0 || n >= sizeof dir) { errno = ENAMETOOLONG; return -1; }
        memcpy(dir, path, n);
        dir[n] = 0;
        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) return -1;
        if ((size_t)snprintf(bound, sizeof bound, "/proc/self/fd/%d/%s", dir_fd, slash + 1) >= sizeof bound) {
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    memcpy(addr.sun_path, bound, strlen(bound) + 1);
    listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd < 0) return -1;
    unlink(bound);   /* a socket left by an earlier monitor of this container */
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(bound, 0600) < 0 || listen(listen_fd, MAX_CLIENTS) < 0) {
        int e = errno;
        close(listen_fd);
        listen_fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

void attach_set_stdin(int fd, int terminal, int once) {
    stdin_fd = fd;
    stdin_terminal = terminal;
    stdin_once = once;
    fcntl(fd, F_SETFL, O_NONBLOCK);
}

static void stop_listening(void) {
    if (listen_fd < 0) return;
    close(listen_fd);
    listen_fd = -1;
    unlink(bound);
}

static void close_stdin(void) {
    if (stdin_fd < 0) return;
    /* A terminal stays (it is the output too): its reader gets end-of-file, as at a typed ^D. */
    if (stdin_terminal) {
        struct termios t;
        char eof = tcgetattr(stdin_fd, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        ssize_t unused = write(stdin_fd, &eof, 1);
        (void)unused;
    }
    close(stdin_fd);
    stdin_fd = -1;
    pending_len = pending_off = 0;
}

/* Writes what is pending; the stdin end goes once everything before it was taken. */
static void flush_pending(void) {
    while (stdin_fd >= 0 && pending_off < pending_len) {
        ssize_t w = write(stdin_fd, pending + pending_off, pending_len - pending_off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w < 0) { close_stdin(); return; }   /* no reader left (EPIPE): nothing more to deliver */
        pending_off += (size_t)w;
    }
    pending_off = pending_len = 0;
    if (stdin_closing) close_stdin();
}

/* A client that carried stdin ended it: with stdinOnce that is the end of the container's stdin. */
static void stdin_ended(struct client *c) {
    if (!c->carries_stdin || c->stdin_ended) return;
    c->stdin_ended = 1;
    if (!stdin_once) return;
    stdin_closing = 1;
    stop_listening();
    flush_pending();
}

static void drop_client(int i) {
    stdin_ended(&clients[i]);
    close(clients[i].fd);
    clients[i] = clients[--nclients];
}

static void resize(const unsigned char *p, size_t n) {
    if (!stdin_terminal || stdin_fd < 0 || n < 4) return;
    uint16_t cols, rows;
    memcpy(&cols, p, 2);
    memcpy(&rows, p + 2, 2);
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    ioctl(stdin_fd, TIOCSWINSZ, &ws);
}

/* One message from client i: 1 handled, 0 none waiting, -1 the client is gone (dropped). */
static int receive(int i) {
    unsigned char buf[ATTACH_DATA_MAX + 1];
    ssize_t n = recv(clients[i].fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) { drop_client(i); return -1; }
    switch (buf[0]) {
    case 0:
        clients[i].carries_stdin = 1;
        if (n > 1 && stdin_fd >= 0 && !stdin_closing && !clients[i].stdin_ended) {
            memcpy(pending, buf + 1, (size_t)n - 1);
            pending_off = 0;
            pending_len = (size_t)n - 1;
            flush_pending();
        }
        break;
    case 4: resize(buf + 1, (size_t)n - 1); break;
    case 255: stdin_ended(&clients[i]); break;
    default: break;
    }
    return 1;
}

int attach_poll_fds(struct pollfd *fds, int max) {
    int n = 0;
    if (listen_fd >= 0 && n < max) fds[n++] = (struct pollfd){ listen_fd, POLLIN, 0 };
    if (pending_len > 0) {
        if (stdin_fd >= 0 && n < max) fds[n++] = (struct pollfd){ stdin_fd, POLLOUT, 0 };
        return n;
    }
    for (int i = 0; i < nclients && n < max; i++) fds[n++] = (struct pollfd){ clients[i].fd, POLLIN, 0 };
    return n;
}

void attach_service(void) {
    while (listen_fd >= 0) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (nclients == MAX_CLIENTS) { close(fd); continue; }
        /* Room for bursts of output while the agent forwards them. */
        int size = 1 << 20;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        clients[nclients++] = (struct client){ fd, 0, 0 };
    }
    flush_pending();
    /* A few messages a client a round: one busy client does not starve the others. */
    for (int i = nclients - 1; i >= 0 && pending_len == 0; i--)
        for (int k = 0; k < 16 && pending_len == 0; k++)
            if (receive(i) <= 0) break;
}

void attach_output(int channel, const char *data, size_t n) {
    char msg[ATTACH_DATA_MAX + 1];
    while (n > 0 && nclients > 0) {
        size_t chunk = n < ATTACH_DATA_MAX ? n : ATTACH_DATA_MAX;
        msg[0] = (char)channel;
        memcpy(msg + 1, data, chunk);
        for (int i = nclients - 1; i >= 0; i--) {
            ssize_t w;
            do { w = send(clients[i].fd, msg, chunk + 1, MSG_DONTWAIT | MSG_NOSIGNAL); } while (w < 0 && errno == EINTR);
            if (w < 0) drop_client(i);   /* too slow (buffer full) or gone */
        }
        data += chunk;
        n -= chunk;
    }
}

void attach_shutdown(void) {
    while (nclients > 0) { close(clients[nclients - 1].fd); nclients--; }
    stop_listening();
    if (stdin_fd >= 0) { close(stdin_fd); stdin_fd = -1; }
    if (dir_fd >= 0) { close(dir_fd); dir_fd = -1; }
}
