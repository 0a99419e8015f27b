/* util.h: small helpers shared by every module. Unless said otherwise, functions
 * return 0 on success and a negative errno on failure. */
#ifndef HAULD_UTIL_H
#define HAULD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wall-clock milliseconds since the epoch, and monotonic milliseconds. */
int64_t time_now_ms(void);
int64_t time_mono_ms(void);
/* Format ms-since-epoch as RFC 3339 UTC with milliseconds ("2026-11-25T22:29:44.123Z").
 * buf needs 32 bytes. */
void time_rfc3339(int64_t ms, char *buf, size_t len);

/* Parse "HOST:PORT" (HOST a name or IPv4, or "[v6]"). host gets the host part.
 * Port must be 1..65535, or 0..65535 when allow_zero. */
int hostport_parse(const char *s, char *host, size_t hostlen, int *port, int allow_zero);

/* Parse a decimal integer in [min, max] with no trailing characters. */
int parse_long(const char *s, long min, long max, long *out);

/* Write/read exactly len bytes, retrying on EINTR and short transfers.
 * read_full returns -EPIPE on EOF before len bytes. */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);

/* mkdir -p with mode; remove a directory tree (no error when absent). */
int mkdir_p(const char *path, mode_t mode);
int rm_rf(const char *path);

/* Read a whole small file (at most max bytes) into a NUL-terminated heap buffer
 * that the caller owns and frees. */
int file_read_all(const char *path, size_t max, char **out, size_t *len);

/* Random bytes from getrandom(2). */
int random_bytes(void *buf, size_t len);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const void *buf, size_t len, char *out);
/* Decode base64 text (padding allowed) into out, at most cap bytes; *n gets the
 * length. -EINVAL when in is not base64, -E2BIG when it does not fit. */
int base64_decode(const char *in, unsigned char *out, size_t cap, size_t *n);

/* A new random UUID (v4) as 36 characters + NUL. */
void uuid_new(char out[37]);
/* 1 when s is a canonical lower-case UUID string. */
int uuid_valid(const char *s);

#endif
