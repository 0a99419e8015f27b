/* util.c: small helpers shared by every module (include/util.h). */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uuid/uuid.h>

/* rm_rf keeps one directory fd open per level; a deeper tree is not ours. */
#define RM_RF_MAX_DEPTH 64

static int64_t time_clock_ms(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now_ms(void)
{
	return time_clock_ms(CLOCK_REALTIME);
}

int64_t time_mono_ms(void)
{
	return time_clock_ms(CLOCK_MONOTONIC);
}

void time_rfc3339(int64_t ms, char *buf, size_t len)
{
	/* Floor division, so that instants before 1970 still get 0..999 ms. */
	int64_t sec = ms / 1000, frac = ms % 1000;
	time_t t;
	struct tm tm;
	char base[24];

	if (!buf || len == 0)
		return;
	if (frac < 0) {
		frac += 1000;
		sec -= 1;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm) || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%s.%03dZ", base, (int)frac);
}

int parse_long(const char *s, long min, long max, long *out)
{
	const char *p;
	char *end = NULL;
	long v;

	if (!s || !out || min > max)
		return -EINVAL;
	/* strtol would accept leading blanks and a '+'; a strict grammar keeps
	 * configuration and protocol fields canonical. */
	p = s;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int hostport_char_ok(char ch)
{
	return isalnum((unsigned char)ch) || ch == '.' || ch == '-';
}

static int hostport_v6_char_ok(char ch)
{
	return isxdigit((unsigned char)ch) || ch == ':' || ch == '.';
}

int hostport_parse(const char *s, char *host, size_t hostlen, int *port, int allow_zero)
{
	const char *h, *hend, *portstr;
	size_t n, i;
	long v;
	int r;

	if (!s || !host || hostlen == 0 || !port)
		return -EINVAL;
	if (s[0] == '[') {
		h = s + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return -EINVAL;
		portstr = hend + 2;
		for (i = 0; h + i < hend; i++)
			if (!hostport_v6_char_ok(h[i]))
				return -EINVAL;
	} else {
		h = s;
		hend = strchr(s, ':');
		if (!hend)
			return -EINVAL;
		portstr = hend + 1;
		/* A second ':' means an unbracketed IPv6 literal, which is ambiguous. */
		for (i = 0; h + i < hend; i++)
			if (!hostport_char_ok(h[i]))
				return -EINVAL;
	}
	n = (size_t)(hend - h);
	if (n == 0)
		return -EINVAL;
	if (n > hostlen - 1)
		return -ENAMETOOLONG;
	r = parse_long(portstr, allow_zero ? 0 : 1, 65535, &v);
	if (r < 0)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = (int)v;
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n, i;
	struct stat st;

	if (!path || path[0] == '\0')
		return -EINVAL;
	n = strlen(path);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	/* Create each prefix in turn; i starts at 1 so that "/" is never attempted. */
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) < 0) {
			if (errno != EEXIST)
				return -errno;
			if (stat(buf, &st) < 0)
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		}
		if (i < n)
			buf[i] = '/';
	}
	return 0;
}

/* Remove name inside parent. Directories are opened with O_NOFOLLOW relative to
 * their parent, so a symlink in the tree is removed, never followed. */
static int rm_rf_at(int parent, const char *name, int depth)
{
	int fd = -1, r = 0;
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			r = -errno;
		goto out;
	}
	if (depth >= RM_RF_MAX_DEPTH) {
		r = -ELOOP;
		goto out;
	}
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		goto out;
	}
	fd = -1; /* owned by d now */
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno != 0)
				r = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = rm_rf_at(dirfd(d), de->d_name, depth + 1);
		if (r < 0)
			goto out;
	}
	if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
out:
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return r;
}

int rm_rf(const char *path)
{
	if (!path || path[0] == '\0')
		return -EINVAL;
	return rm_rf_at(AT_FDCWD, path, 0);
}

int file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	int fd = -1, r = 0;
	char *buf = NULL, *tmp;
	size_t cap = 0, used = 0, want;
	ssize_t n;

	if (!path || !out || max >= SIZE_MAX - 1)
		return -EINVAL;
	*out = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		/* Keep room for one byte past max, so that an over-long file is seen,
		 * and one for the NUL. */
		if (used + 1 >= cap) {
			want = cap ? cap * 2 : 4096;
			if (want > max + 2)
				want = max + 2;
			if (want <= cap) {
				r = -EFBIG;
				goto out;
			}
			tmp = realloc(buf, want);
			if (!tmp) {
				r = -ENOMEM;
				goto out;
			}
			buf = tmp;
			cap = want;
		}
		n = read(fd, buf + used, cap - 1 - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			r = -EFBIG;
			goto out;
		}
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
	}
	buf[used] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = used;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

int random_bytes(void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void hex_encode(const void *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

void uuid_new(char out[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

int uuid_valid(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return s[36] == '\0';
}

int base64_decode(const char *in, unsigned char *out, size_t cap, size_t *n)
{
	size_t len = strlen(in), pad = 0;
	unsigned char *tmp;
	int got;

	if (len % 4 != 0)
		return -EINVAL;
	if (len / 4 * 3 > cap + 2)
		return -E2BIG;
	tmp = malloc(len / 4 * 3 + 1);
	if (!tmp)
		return -ENOMEM;
	got = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (got < 0) {
		free(tmp);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the padding as bytes: take it off. */
	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	if ((size_t)got - pad > cap) {
		free(tmp);
		return -E2BIG;
	}
	memcpy(out, tmp, (size_t)got - pad);
	*n = (size_t)got - pad;
	free(tmp);
	return 0;
}
