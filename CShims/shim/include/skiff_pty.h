/* skiff_pty.h — a pseudo-terminal pair for `exec -t` (posix_openpt & co. need _XOPEN_SOURCE,
 * which Swift's Glibc module does not expose). */
#ifndef SKIFF_PTY_H
#define SKIFF_PTY_H

/* Opens a pty: *master and *slave get CLOEXEC fds. Returns 0, or -1 with errno set. */
int skiff_open_pty(int *master, int *slave);

#endif
