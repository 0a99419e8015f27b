/* criu_images.c: what hauld reads in CRIU's image files: the stats images
 * (stats-dump, stats-restore) and the lazy pages of the pagemap images. The entries
 * are decoded by protobuf-c from src/proto/criu_images.proto; the framing around
 * them (magics, lengths) is CRIU's own and read here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "criu.h"
#include "criu_images.pb-c.h"
#include "util.h"

static int64_t us_to_ms(uint32_t us)
{
	return (int64_t)us / 1000;
}

/* The figures of one stats_entry; only the parts the entry has are set. */
static void stats_fill(const HauldStats *e, struct criu_stats *st)
{
	if (e->dump) {
		const HauldDumpStats *d = e->dump;

		st->has_dump = true;
		st->freezing_ms = us_to_ms(d->freezing_time);
		st->frozen_ms = us_to_ms(d->frozen_time);
		st->memdump_ms = us_to_ms(d->memdump_time);
		st->memwrite_ms = us_to_ms(d->memwrite_time);
		st->pages_scanned = (int64_t)d->pages_scanned;
		st->pages_skipped_parent = (int64_t)d->pages_skipped_parent;
		st->pages_written = (int64_t)d->pages_written;
		st->pages_lazy = (int64_t)d->pages_lazy;
	}
	if (e->restore) {
		const HauldRestoreStats *r = e->restore;

		st->has_restore = true;
		st->forking_ms = us_to_ms(r->forking_time);
		st->restore_ms = us_to_ms(r->restore_time);
		st->pages_restored = (int64_t)r->pages_restored;
	}
}

#define IMG_SERVICE_MAGIC 0x55105940u
#define STATS_MAGIC       0x57093306u

int criu_stats_parse(const void *buf, size_t len, struct criu_stats *st)
{
	const uint8_t *p = buf;
	uint32_t m[3];

	memset(st, 0, sizeof(*st));
	if (!buf || len < sizeof(m))
		return -EPROTO;
	memcpy(m, p, sizeof(m));
	HauldStats *e;

	if (m[0] != IMG_SERVICE_MAGIC || m[1] != STATS_MAGIC || m[2] > len - sizeof(m))
		return -EPROTO;
	e = hauld_stats__unpack(NULL, m[2], p + sizeof(m));
	if (!e)
		return -EPROTO;
	stats_fill(e, st);
	hauld_stats__free_unpacked(e, NULL);
	return 0;
}

int criu_stats_read(const char *path, struct criu_stats *st)
{
	char *buf = NULL;
	size_t len;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = file_read_all(path, 64 * 1024, &buf, &len);
	if (ret < 0)
		return ret;
	ret = criu_stats_parse(buf, len, st);
	free(buf);
	return ret;
}

#define IMG_COMMON_MAGIC 0x54564319u
#define PAGEMAP_MAGIC    0x56084025u
#define PE_LAZY          (1u << 1)

/* Sum the pages of one pagemap image's entries that are flagged lazy. The image is
 * the two magics, then entries each preceded by its 32-bit length: first a
 * pagemap_head, then one pagemap_entry per run of pages. */
static int pagemap_lazy(const uint8_t *p, size_t len, int64_t *pages)
{
	const uint8_t *end = p + len;
	uint32_t m[2], sz;
	bool head = true;

	if (len < sizeof(m))
		return -EPROTO;
	memcpy(m, p, sizeof(m));
	if (m[0] != IMG_COMMON_MAGIC || m[1] != PAGEMAP_MAGIC)
		return -EPROTO;
	p += sizeof(m);
	while (end - p >= 4) {
		HauldPagemapEntry *pe;
		uint64_t nr;

		memcpy(&sz, p, 4);
		p += 4;
		if (sz > (size_t)(end - p))
			return -EPROTO;
		if (head) {
			HauldPagemapHead *h = hauld_pagemap_head__unpack(NULL, sz, p);

			if (!h)
				return -EPROTO;
			hauld_pagemap_head__free_unpacked(h, NULL);
			head = false;
			p += sz;
			continue;
		}
		pe = hauld_pagemap_entry__unpack(NULL, sz, p);
		if (!pe)
			return -EPROTO;
		p += sz;
		nr = pe->has_nr_pages ? pe->nr_pages : pe->compat_nr_pages;
		if ((pe->flags & PE_LAZY) && nr <= (uint64_t)INT64_MAX - (uint64_t)*pages)
			*pages += (int64_t)nr;
		hauld_pagemap_entry__free_unpacked(pe, NULL);
	}
	return p == end ? 0 : -EPROTO;
}

/* Call fn for each of the tree's pagemap images in images_fd (not shared memory's),
 * until one returns non-zero; that value, or 0, or -errno. */
static int pagemap_each(int images_fd, int (*fn)(int images_fd, const char *name, void *arg),
			void *arg)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	fd = openat(images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && ret == 0) {
		if (strncmp(de->d_name, "pagemap-", 8) != 0 || strstr(de->d_name, "shmem"))
			continue;
		ret = fn(images_fd, de->d_name, arg);
	}
	closedir(d);
	return ret;
}

static int lazy_count_one(int images_fd, const char *name, void *arg)
{
	char path[64 + 256], *buf = NULL;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", images_fd, name);
	ret = file_read_all(path, 64 << 20, &buf, &len);
	if (ret == 0)
		ret = pagemap_lazy((const uint8_t *)buf, len, arg);
	free(buf);
	return ret;
}

int criu_lazy_pages_count(int images_fd, int64_t *pages)
{
	*pages = 0;
	return pagemap_each(images_fd, lazy_count_one, pages);
}

#define MM_MAGIC         0x57492820u
#define PE_PRESENT       (1u << 2)
#define ARGS_MAX_PAGES   256          /* 1 MiB of arguments and environment */

/* The pages [*lo, *hi) holding the arguments and environment of the address space
 * in images_fd's mm-ID.img. -errno when unreadable. */
static int mm_args_range(int images_fd, const char *id, uint64_t *lo, uint64_t *hi)
{
	char path[64 + 300], *buf = NULL;
	HauldMmEntry *mm;
	uint32_t m[2], sz;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/mm-%s.img", images_fd, id);
	ret = file_read_all(path, 16 << 20, &buf, &len);
	if (ret < 0)
		return ret;
	ret = -EPROTO;
	if (len < 12)
		goto out;
	memcpy(m, buf, sizeof(m));
	memcpy(&sz, buf + 8, 4);
	if (m[0] != IMG_COMMON_MAGIC || m[1] != MM_MAGIC || sz > len - 12)
		goto out;
	mm = hauld_mm_entry__unpack(NULL, sz, (const uint8_t *)buf + 12);
	if (!mm)
		goto out;
	if (mm->has_mm_arg_start && mm->has_mm_arg_end && mm->has_mm_env_start &&
	    mm->has_mm_env_end && mm->mm_arg_start < mm->mm_arg_end) {
		uint64_t a = mm->mm_arg_start, b = mm->mm_arg_end;

		if (mm->mm_env_start < mm->mm_env_end) {
			a = a < mm->mm_env_start ? a : mm->mm_env_start;
			b = b > mm->mm_env_end ? b : mm->mm_env_end;
		}
		*lo = a & ~4095ULL;
		*hi = (b + 4095) & ~4095ULL;
		ret = *hi > *lo && (*hi - *lo) / 4096 <= ARGS_MAX_PAGES ? 0 : -ERANGE;
	}
	hauld_mm_entry__free_unpacked(mm, NULL);
out:
	free(buf);
	return ret;
}

/* Append one pagemap entry (its length, then it) to f. */
static int pe_write(FILE *f, const HauldPagemapEntry *pe)
{
	uint8_t out[64];
	uint32_t sz = (uint32_t)hauld_pagemap_entry__get_packed_size(pe);

	if (sz > sizeof(out))
		return -EPROTO;
	hauld_pagemap_entry__pack(pe, out);
	return fwrite(&sz, 4, 1, f) == 1 && fwrite(out, sz, 1, f) == 1 ? 0 : -EIO;
}

/* One entry, split so that its pages in [lo, hi) lose the lazy flag. */
static int pe_split(FILE *f, HauldPagemapEntry *pe, uint64_t lo, uint64_t hi, int64_t *n)
{
	uint64_t nr = pe->has_nr_pages ? pe->nr_pages : pe->compat_nr_pages;
	uint64_t start = pe->vaddr, end = start + nr * 4096, cut[4];
	int ret = 0;

	if (!(pe->flags & PE_LAZY) || !(pe->flags & PE_PRESENT) || end <= lo || start >= hi)
		return pe_write(f, pe);
	cut[0] = start;
	cut[1] = lo > start ? lo : start;
	cut[2] = hi < end ? hi : end;
	cut[3] = end;
	for (int i = 0; i < 3 && ret == 0; i++) {
		HauldPagemapEntry part = *pe;
		uint64_t pages = (cut[i + 1] - cut[i]) / 4096;

		if (!pages)
			continue;
		part.vaddr = cut[i];
		if (pe->has_nr_pages) {
			part.nr_pages = pages;
			part.compat_nr_pages = 0;
		} else {
			part.compat_nr_pages = (uint32_t)pages;
		}
		part.has_compat_nr_pages = true;
		if (i == 1) {
			part.flags &= ~PE_LAZY;
			*n += (int64_t)pages;
		}
		ret = pe_write(f, &part);
	}
	return ret;
}

static int args_eager_one(int images_fd, const char *name, void *arg)
{
	char path[64 + 300], tmp[64 + 300], id[32], *buf = NULL;
	const char *dot = strrchr(name, '.');
	uint64_t lo, hi;
	uint32_t sz;
	size_t len, off;
	FILE *f;
	int ret;

	if (!dot || strcmp(dot, ".img") != 0 || dot - name - 8 >= (int)sizeof(id) ||
	    dot - name - 8 <= 0)
		return 0;
	snprintf(id, sizeof(id), "%.*s", (int)(dot - name - 8), name + 8);
	if (mm_args_range(images_fd, id, &lo, &hi) < 0)
		return 0;      /* no arguments known: the entries stay as they are */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", images_fd, name);
	snprintf(tmp, sizeof(tmp), "/proc/self/fd/%d/.%s.tmp", images_fd, name);
	ret = file_read_all(path, 64 << 20, &buf, &len);
	if (ret < 0)
		return ret;
	ret = -EPROTO;
	f = len >= 12 ? fopen(tmp, "we") : NULL;
	if (f) {
		/* The two magics and the head as they are, then the entries. */
		memcpy(&sz, buf + 8, 4);
		off = 12 + (size_t)sz;
		ret = off <= len && fwrite(buf, off, 1, f) == 1 ? 0 : -EPROTO;
		while (ret == 0 && len - off >= 4) {
			HauldPagemapEntry *pe;

			memcpy(&sz, buf + off, 4);
			off += 4;
			if (sz > len - off) {
				ret = -EPROTO;
				break;
			}
			pe = hauld_pagemap_entry__unpack(NULL, sz, (const uint8_t *)buf + off);
			off += sz;
			if (!pe) {
				ret = -EPROTO;
				break;
			}
			ret = pe_split(f, pe, lo, hi, arg);
			hauld_pagemap_entry__free_unpacked(pe, NULL);
		}
		if (ret == 0 && off != len)
			ret = -EPROTO;
		if (fflush(f) != 0 || fsync(fileno(f)) != 0)
			ret = ret ? ret : -EIO;
		fclose(f);
		if (ret == 0 && rename(tmp, path) < 0)
			ret = -errno;
		if (ret < 0)
			unlink(tmp);
	}
	free(buf);
	return ret;
}

int criu_pagemap_args_eager(int images_fd, int64_t *pages)
{
	*pages = 0;
	return pagemap_each(images_fd, args_eager_one, pages);
}

#define FILES_MAGIC      0x56303138u
#define FD_TYPE_INETSK   4
#define TCP_STATE_LISTEN 10

/* One inet socket entry as a criu_inet_port; 0 when it holds a local port. */
static int inet_port_of(const HauldInetSk *sk, struct criu_inet_port *p)
{
	char buf[INET6_ADDRSTRLEN];
	bool dgram = sk->type == SOCK_DGRAM;

	memset(p, 0, sizeof(*p));
	if (!sk->src_port || sk->src_port > 65535 ||
	    (!dgram && sk->state != TCP_STATE_LISTEN))
		return -ENOENT;
	p->id = sk->id;
	p->family = (int)sk->family;
	p->type = (int)sk->type;
	p->port = (int)sk->src_port;
	p->listening = !dgram;
	if (sk->family == AF_INET && sk->n_src_addr >= 1) {
		struct in_addr a = { .s_addr = sk->src_addr[0] };

		inet_ntop(AF_INET, &a, buf, sizeof(buf));
	} else if (sk->family == AF_INET6 && sk->n_src_addr >= 4) {
		struct in6_addr a;

		memcpy(&a, sk->src_addr, sizeof(a));
		inet_ntop(AF_INET6, &a, buf, sizeof(buf));
	} else if (sk->family == AF_INET || sk->family == AF_INET6) {
		snprintf(buf, sizeof(buf), "%s", sk->family == AF_INET ? "0.0.0.0" : "::");
	} else {
		return -ENOENT;
	}
	snprintf(p->addr, sizeof(p->addr), "%s", buf);
	return 0;
}

int criu_inet_ports(int images_fd, struct criu_inet_port *out, size_t max, size_t *n)
{
	char path[64], *buf = NULL;
	const uint8_t *p, *end;
	uint32_t m[2], sz;
	size_t len;
	int ret;

	*n = 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/files.img", images_fd);
	ret = file_read_all(path, 64 << 20, &buf, &len);
	if (ret < 0)
		return ret;
	p = (const uint8_t *)buf;
	end = p + len;
	ret = -EPROTO;
	if (len < sizeof(m))
		goto out;
	memcpy(m, p, sizeof(m));
	if (m[0] != IMG_COMMON_MAGIC || m[1] != FILES_MAGIC)
		goto out;
	p += sizeof(m);
	while (end - p >= 4) {
		HauldFileEntry *fe;

		memcpy(&sz, p, 4);
		p += 4;
		if (sz > (size_t)(end - p))
			goto out;
		fe = hauld_file_entry__unpack(NULL, sz, p);
		if (!fe)
			goto out;
		p += sz;
		if (fe->type == FD_TYPE_INETSK && fe->isk && *n < max &&
		    inet_port_of(fe->isk, &out[*n]) == 0)
			(*n)++;
		hauld_file_entry__free_unpacked(fe, NULL);
	}
	ret = p == end ? 0 : -EPROTO;
out:
	free(buf);
	return ret;
}

int criu_inet_port_free(const struct criu_inet_port *p)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd, one = 1, ret = 0;

	if (p->family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET, p->addr, &a->sin_addr) != 1)
			return -EINVAL;
		sl = sizeof(*a);
	} else if (p->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p->port);
		if (inet_pton(AF_INET6, p->addr, &a->sin6_addr) != 1)
			return -EINVAL;
		sl = sizeof(*a);
	} else {
		return -EAFNOSUPPORT;
	}
	fd = socket(p->family, p->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
