/* criu_int.h: internals shared by criu.c (CRIU's RPC protocol) and criu_cli.c (its
 * command line). Private to src/criu*.c and no contract: the contract is
 * include/criu.h. Everything here is defined in criu.c. */
#ifndef HAULD_CRIU_INT_H
#define HAULD_CRIU_INT_H

#include <stddef.h>
#include <sys/types.h>

#define CRIU_WAIT_MS     (30 * 60 * 1000)  /* a dump of many GiB may take minutes */
#define CRIU_CHECK_MS    (60 * 1000)       /* a check, or a child that must start */

/* The criu binary (criu_detect may change it); read-only after start. */
extern char criu_bin[256];
/* CRIU's log level for every call (criu_log_level_set). */
extern int criu_log_level;

/* fork+exec argv with envp (NULL: ours), fds in keep inherited, stdout and stderr to out_fd. */
int spawn_env(char *const argv[], char *const envp[], const int *keep, int n_keep,
	      int out_fd, pid_t *pid);
/* spawn_env with our environment. */
int spawn(char *const argv[], const int *keep, int n_keep, int out_fd, pid_t *pid);
/* Run argv and capture its output into out; the exit status (0..255), or -errno. */
int run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms);
/* The last error line of CRIU's log name in directory dirfd into err. */
void log_last_error(int dirfd, const char *name, char *err, size_t errlen);

#endif
