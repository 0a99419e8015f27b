/* spawn.h: running programs (CRIU, runc, tar) as children, every wait bounded.
 * Defined in src/criu.c, which tracks the children it starts (criu.h: child_track).
 * Return 0 or a negative errno. */
#ifndef HAULD_SPAWN_H
#define HAULD_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

/* fork+exec argv with envp (NULL: ours), fds in keep inherited, stdin on /dev/null,
 * stdout and stderr to out_fd (-1: /dev/null). */
int spawn_env(char *const argv[], char *const envp[], const int *keep, int n_keep,
	      int out_fd, pid_t *pid);
/* spawn_env with our environment. */
int spawn(char *const argv[], const int *keep, int n_keep, int out_fd, pid_t *pid);
/* Run argv and capture up to outlen-1 bytes of its output (stdout and stderr) into
 * out; the exit status (0..255, 128+signal), or -errno. Killed past timeout_ms. */
int run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms);

#endif
