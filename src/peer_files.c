/* peer_files.c: the file transfer of the peer protocol (include/peer.h,
 * api/peer-protocol.md): a directory's regular files as FILE, DATA..., FILE_END
 * frames, then FILES_END, over the framing of peer.c. */
#include "peer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "log.h"
#include "peer_int.h"
#include "util.h"

#define PEER_FILE_BUF       PEER_MAX_FRAME

/* ---- file transfer ---- */

int peer_name_ok(const char *name)
{
	size_t i;
	char ch;

	if (!name)
		return 0;
	for (i = 0; name[i]; i++) {
		ch = name[i];
		if (i >= PEER_NAME_MAX)
			return 0;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
			continue;
		if (i == 0 || !(ch == '.' || ch == '_' || ch == '-'))
			return 0;
		if (ch == '.' && name[i - 1] == '.')
			return 0;
	}
	return i > 0;
}

static int peer_cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void peer_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names of dirfd's entries other than "." and "..", sorted so that a transfer
 * is reproducible. The caller owns *out (peer_names_free). */
static int peer_list_dir(int dirfd, char ***out, size_t *count)
{
	DIR *d = NULL;
	struct dirent *de;
	char **names = NULL, **tmp;
	size_t n = 0, cap = 0;
	int fd = -1, r = 0;

	*out = NULL;
	*count = 0;
	/* A fresh open file description, so that the caller's dirfd offset is left
	 * alone. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		goto out;
	}
	fd = -1;
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = errno ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Entries of every kind count, so that the list is bounded; a
		 * directory this large is not an image directory. */
		if (n >= 4 * PEER_MAX_FILES) {
			r = -E2BIG;
			goto out;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(names, cap * sizeof(*names));
			if (!tmp) {
				r = -ENOMEM;
				goto out;
			}
			names = tmp;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (r < 0)
		goto out;
	if (n > 0)
		qsort(names, n, sizeof(*names), peer_cmp_name);
	*out = names;
	*count = n;
	names = NULL;
	n = 0;
out:
	peer_names_free(names, n);
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return r;
}

/* One chunk of a file: compressed (ZDATA) when the connection compresses and it
 * paid, else raw (DATA). */
static int send_data(struct peer_conn *c, const unsigned char *buf, size_t n)
{
	const void *p;
	size_t len;
	int z = peer_pack(c, buf, n, &p, &len);

	if (z < 0)
		return z;
	c->raw_sent += n;
	return peer_send_frame(c, z ? PEER_FT_ZDATA : PEER_FT_DATA, p, len);
}

/* Send one open regular file: FILE, DATA..., FILE_END. */
static int peer_send_file(struct peer_conn *c, const char *name, int fd, const struct stat *st,
		       unsigned char *buf)
{
	EVP_MD_CTX *md = NULL;
	unsigned char dig[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int diglen = 0;
	json_t *m = NULL;
	int64_t left = st->st_size;
	size_t want;
	ssize_t n;
	int r;

	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		goto out;
	}
	m = json_pack("{s:s, s:I, s:i}", "name", name, "size", (json_int_t)st->st_size,
		      "mode", (int)(st->st_mode & 07777));
	r = peer_send_json_frame(c, PEER_FT_FILE, m);
	if (r < 0)
		goto out;
	while (left > 0) {
		want = left > PEER_FILE_BUF ? PEER_FILE_BUF : (size_t)left;
		n = read(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		/* The file shrank under us; the receiver would reject it as short. */
		if (n == 0) {
			log_warnx("peer: %s shrank while being sent", name);
			r = -EIO;
			goto out;
		}
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			r = -EIO;
			goto out;
		}
		r = send_data(c, buf, (size_t)n);
		if (r < 0)
			goto out;
		left -= n;
	}
	if (EVP_DigestFinal_ex(md, dig, &diglen) != 1) {
		r = -EIO;
		goto out;
	}
	hex_encode(dig, diglen, hex);
	json_decref(m);
	m = json_pack("{s:s}", "sha256", hex);
	r = peer_send_json_frame(c, PEER_FT_FILE_END, m);
out:
	json_decref(m);
	EVP_MD_CTX_free(md);
	return r;
}

int peer_send_dir(struct peer_conn *c, int dirfd, int *files, int64_t *bytes)
{
	char **names = NULL;
	size_t count = 0, i;
	unsigned char *buf = NULL;
	struct stat st;
	json_t *m = NULL;
	int64_t total = 0;
	int nfiles = 0, fd = -1, r;

	if (files)
		*files = 0;
	if (bytes)
		*bytes = 0;
	if (!c || c->fd < 0 || dirfd < 0)
		return -EINVAL;
	r = peer_list_dir(dirfd, &names, &count);
	if (r < 0)
		goto out;
	buf = malloc(PEER_FILE_BUF);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		/* The receiver would refuse these; failing here names the culprit. */
		if (!peer_name_ok(names[i])) {
			log_warnx("peer: cannot send file with name \"%s\"", names[i]);
			r = -EINVAL;
			goto out;
		}
		if (nfiles >= PEER_MAX_FILES) {
			log_warnx("peer: more than %d files to send", PEER_MAX_FILES);
			r = -EFBIG;
			goto out;
		}
		/* O_NONBLOCK: should a FIFO replace the file after fstatat, the open
		 * must not hang; the fstat below then skips it. */
		fd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto out;
		}
		if (S_ISREG(st.st_mode)) {
			if (st.st_size > PEER_MAX_FILE_SIZE) {
				log_warnx("peer: %s is larger than a transfer allows", names[i]);
				r = -EFBIG;
				goto out;
			}
			r = peer_send_file(c, names[i], fd, &st, buf);
			if (r < 0)
				goto out;
			nfiles++;
			total += st.st_size;
		}
		close(fd);
		fd = -1;
	}
	m = json_pack("{s:i, s:I}", "files", nfiles, "bytes", (json_int_t)total);
	r = peer_send_json_frame(c, PEER_FT_FILES_END, m);
	if (r < 0)
		goto out;
	if (files)
		*files = nfiles;
	if (bytes)
		*bytes = total;
out:
	json_decref(m);
	if (fd >= 0)
		close(fd);
	free(buf);
	peer_names_free(names, count);
	return r;
}

/* A JSON integer member in [min, max], or -EPROTO. */
static int peer_json_int(json_t *m, const char *key, json_int_t min, json_int_t max, json_int_t *out)
{
	json_t *v = json_object_get(m, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -EPROTO;
	*out = json_integer_value(v);
	return 0;
}

/* The file being received. */
struct peer_rfile {
	int fd;
	char name[PEER_NAME_MAX + 1];
	int64_t size, got;
	EVP_MD_CTX *md;
};

/* Start a file from a FILE frame's JSON. */
static int peer_rfile_open(struct peer_rfile *f, int dirfd, json_t *m)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	json_int_t size, mode;

	if (!peer_name_ok(name) || peer_json_int(m, "size", 0, PEER_MAX_FILE_SIZE, &size) < 0 ||
	    peer_json_int(m, "mode", 0, 07777, &mode) < 0)
		return -EPROTO;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->size = size;
	f->got = 0;
	f->md = EVP_MD_CTX_new();
	if (!f->md || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	/* Never more than rw-r--r--, and always readable by the owner, who restores
	 * from it. The fd is write-only whatever the mode says. */
	f->fd = openat(dirfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       (mode_t)((mode & 0644) | 0400));
	if (f->fd < 0)
		return -errno;
	return 0;
}

/* Finish a file from a FILE_END frame's JSON. */
static int peer_rfile_close(struct peer_rfile *f, json_t *m)
{
	unsigned char dig[EVP_MAX_MD_SIZE], want[32];
	unsigned int diglen = 0;
	int fd = f->fd;

	if (f->got != f->size)
		return -EPROTO;
	if (EVP_DigestFinal_ex(f->md, dig, &diglen) != 1 || diglen != sizeof(want))
		return -EIO;
	if (peer_hex_decode(json_string_value(json_object_get(m, "sha256")), want, sizeof(want)) < 0 ||
	    CRYPTO_memcmp(dig, want, sizeof(want)) != 0)
		return -EPROTO;
	f->fd = -1;
	/* A late write error (NFS, quota) shows up only here. */
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* A DATA or ZDATA frame of n bytes for the open file f. Its size is checked
 * before anything is written: a DATA frame's from its header, a ZDATA frame's from
 * the size its zstd frame declares, which the decoder holds it to. */
static int recv_data(struct peer_conn *c, uint8_t t, size_t n, unsigned char *buf,
		     struct peer_rfile *f)
{
	int64_t room = f->size - f->got;
	const void *p = buf;
	size_t len = n;
	int r;

	if (n == 0 || room <= 0 || (t == PEER_FT_DATA && (int64_t)n > room) ||
	    (t == PEER_FT_ZDATA && !c->z))
		return -EPROTO;
	r = peer_recv_all(c, buf, n);
	if (r < 0)
		return r;
	if (t == PEER_FT_ZDATA) {
		r = zframe_unpack(c->z, buf, n, room < PEER_MAX_FRAME ? (size_t)room : PEER_MAX_FRAME,
				  &p, &len);
		if (r < 0)
			return -EPROTO;
	}
	if (EVP_DigestUpdate(f->md, p, len) != 1)
		return -EIO;
	r = write_full(f->fd, p, len);
	if (r < 0)
		return r;
	f->got += (int64_t)len;
	c->raw_received += len;
	return 0;
}

int peer_recv_dir(struct peer_conn *c, int dirfd, int *files, int64_t *bytes)
{
	return peer_recv_dir_max(c, dirfd, PEER_MAX_FILES, INT64_MAX, files, bytes);
}

int peer_recv_dir_max(struct peer_conn *c, int dirfd, int max_files, int64_t max_bytes,
		      int *files, int64_t *bytes)
{
	struct peer_rfile f = { .fd = -1 };
	int open_file = 0;    /* 1 between FILE and FILE_END; f.name is ours to unlink */
	unsigned char *buf = NULL;
	json_t *m = NULL;
	json_int_t nf, nb;
	int64_t total = 0;
	int nfiles = 0, r;
	uint8_t t;
	size_t n;

	if (files)
		*files = 0;
	if (bytes)
		*bytes = 0;
	if (!c || c->fd < 0 || dirfd < 0)
		return -EINVAL;
	buf = malloc(PEER_FILE_BUF);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		r = peer_recv_header(c, &t, &n);
		if (r < 0)
			goto out;
		if (t == PEER_FT_DATA || t == PEER_FT_ZDATA) {
			r = open_file ? recv_data(c, t, n, buf, &f) : -EPROTO;
			if (r < 0)
				goto out;
			continue;
		}
		if (t == PEER_FT_JSON) {
			r = -EPROTO;
			goto out;
		}
		r = peer_recv_json_payload(c, n, &m);
		if (r < 0)
			goto out;
		if (t == PEER_FT_FILE) {
			if (open_file || nfiles >= PEER_MAX_FILES) {
				r = -EPROTO;
				goto out;
			}
			if (nfiles >= max_files) {
				r = -E2BIG;
				goto out;
			}
			r = peer_rfile_open(&f, dirfd, m);
			if (r < 0)
				goto out;
			open_file = 1;
			/* Refused at its announcement, before any of it is read. */
			if (f.size > max_bytes - total) {
				r = -EFBIG;
				goto out;
			}
		} else if (t == PEER_FT_FILE_END) {
			if (!open_file) {
				r = -EPROTO;
				goto out;
			}
			r = peer_rfile_close(&f, m);
			if (r < 0)
				goto out;
			open_file = 0;
			EVP_MD_CTX_free(f.md);
			f.md = NULL;
			nfiles++;
			total += f.size;
		} else { /* PEER_FT_FILES_END */
			if (open_file || peer_json_int(m, "files", 0, PEER_MAX_FILES, &nf) < 0 ||
			    peer_json_int(m, "bytes", 0, INT64_MAX, &nb) < 0 ||
			    nf != nfiles || nb != total) {
				r = -EPROTO;
				goto out;
			}
			break;
		}
		json_decref(m);
		m = NULL;
	}
out:
	if (f.fd >= 0)
		close(f.fd);
	/* f.fd is -1 when the create failed, so a file that existed before is
	 * never removed here. */
	if (open_file && r < 0)
		unlinkat(dirfd, f.name, 0);
	EVP_MD_CTX_free(f.md);
	json_decref(m);
	free(buf);
	if (files)
		*files = nfiles;
	if (bytes)
		*bytes = total;
	return r;
}
