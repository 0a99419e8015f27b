/* criu_diag.h: CRIU's failures as an operator reads them. CRIU's logs name what went
 * wrong in CRIU's terms ("Can't bind inet socket (id 5): Address already in use");
 * one table (src/criu_diag.c) maps the causes people meet to a stable error code and
 * a sentence that names the cause and what to do about it. Thread-safe; nothing is
 * allocated that the caller must free. */
#ifndef HAULD_CRIU_DIAG_H
#define HAULD_CRIU_DIAG_H

#include <stdbool.h>
#include <stddef.h>

/* What the sentence may use besides the log. */
struct criu_diag_ctx {
	int images_fd;          /* the job's images (to name a socket's port), or -1 */
	bool same_netns;        /* source and destination daemons share a network namespace */
};

struct criu_diag {
	const char *code;       /* a code of the table, static; NULL when none matched */
	char text[400];         /* the sentence */
	char line[256];         /* the CRIU log line it was read from */
};

/* Look for a known cause in CRIU's log text (len bytes): the first error line that
 * the table knows decides. 0 with d filled, -ENOENT when no line is known. */
int criu_diag_text(const char *text, size_t len, const struct criu_diag_ctx *ctx,
		   struct criu_diag *d);
/* The same for the log name in directory dirfd; -ENOENT also when it is missing. */
int criu_diag_log(int dirfd, const char *name, const struct criu_diag_ctx *ctx,
		  struct criu_diag *d);
/* When CRIU's log name in dirfd tells a known cause: *code gets the table's code and
 * err (errlen bytes) becomes the sentence, followed in parentheses by CRIU's line
 * that told it and where the log is. Both unchanged otherwise. */
void criu_diag_explain(int dirfd, const char *name, const struct criu_diag_ctx *ctx,
		       const char **code, char *err, size_t errlen);
/* The table's own (static) string for code, or NULL when code is not one of the
 * table's: a peer's reply may name a code, but only a known one is taken. */
const char *criu_diag_known(const char *code);

#endif
