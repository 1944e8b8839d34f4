/* attach.h — the monitor's attach socket (spawn-file record `stdin SOCKET ONCE`).
 *
 * A SOCK_SEQPACKET unix socket at SOCKET (bound through /proc/self/fd/<dir>/<name> when the path
 * is longer than sun_path). Every message starts with a channel byte, as Kubernetes' websocket
 * streaming protocol numbers them:
 *   client → monitor   0 + bytes    the container's stdin (an empty one declares "I carry stdin")
 *                      4 + u16 cols + u16 rows (native order)   terminal size (tty: true)
 *                      255          this client's stdin ended
 *   monitor → client   1 + bytes    stdout (a terminal's output too)
 *                      2 + bytes    stderr
 * The container's stdin stays open while no one is attached. With ONCE (stdinOnce) it is closed
 * when the first client that carried stdin ends it or goes away, and the socket is removed.
 * A client that cannot keep up with the output (its socket buffer full) is disconnected rather
 * than stalling the container or its log. */
#ifndef SKIFF_MONITOR_ATTACH_H
#define SKIFF_MONITOR_ATTACH_H

#include <poll.h>
#include <stddef.h>

/* Most payload bytes in one message (a client's larger messages are cut). */
#define ATTACH_DATA_MAX 8192

/* Binds and listens at `path`; 0, or -1 with errno set. */
int attach_listen(const char *path);
/* Where stdin bytes go: a pipe's write end, or (terminal) a descriptor of the pty master, which
 * also takes resize messages. The relay owns `fd` and closes it. */
void attach_set_stdin(int fd, int terminal, int once);
/* Adds the relay's descriptors to `fds` (room for `max`); returns how many were added. */
int attach_poll_fds(struct pollfd *fds, int max);
/* After poll: accepts clients, reads their messages, feeds stdin, without blocking. */
void attach_service(void);
/* Sends output to every client on `channel` (1 stdout, 2 stderr). */
void attach_output(int channel, const char *data, size_t n);
/* Closes the clients, stdin and the socket, and removes it. */
void attach_shutdown(void);

#endif
