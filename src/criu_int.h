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

#include "spawn.h"
/* The last error line of CRIU's log name in directory dirfd into err. */
void log_last_error(int dirfd, const char *name, char *err, size_t errlen);

#endif
