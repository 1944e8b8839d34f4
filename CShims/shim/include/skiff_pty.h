/* skiff_pty.h — a pseudo-terminal pair for `exec -t`, made in the container's own devpts (its
 * /dev/pts/ptmx seen through /proc/PID/root) so the process sees its terminal by name there. */
#ifndef SKIFF_PTY_H
#define SKIFF_PTY_H

/* Opens a pty from `ptmx`: *master and *slave get CLOEXEC fds. Returns 0, or -1 with errno set. */
int skiff_open_pty(const char *ptmx, int *master, int *slave);

#endif
