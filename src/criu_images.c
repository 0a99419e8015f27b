/* criu_images.c: what hauld reads in CRIU's image files, by hand from the protobuf
 * wire format: the stats images (stats-dump, stats-restore) and the lazy pages of the
 * pagemap images. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu.h"
#include "util.h"

/* Protocol buffers wire format, just enough for stats and pagemap images. */
static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -EPROTO;
		x |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EPROTO;
}

/* Walk the fields of one message: which is 0 for stats_entry, 1 for its
 * dump_stats_entry and 2 for its restore_stats_entry. Unknown fields are skipped. */
static int pb_walk(const uint8_t *p, const uint8_t *end, struct criu_stats *st, int which)
{
	uint64_t key, v;

	while (p < end) {
		if (pb_varint(&p, end, &key) < 0)
			return -EPROTO;
		switch (key & 7) {
		case 0:
			if (pb_varint(&p, end, &v) < 0)
				return -EPROTO;
			break;
		case 2:
			if (pb_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
				return -EPROTO;
			if (which == 0 && (key >> 3) == 1) {
				st->has_dump = true;
				if (pb_walk(p, p + v, st, 1) < 0)
					return -EPROTO;
			} else if (which == 0 && (key >> 3) == 2) {
				st->has_restore = true;
				if (pb_walk(p, p + v, st, 2) < 0)
					return -EPROTO;
			}
			p += v;
			continue;
		case 1:
			if (end - p < 8)
				return -EPROTO;
			p += 8;
			continue;
		case 5:
			if (end - p < 4)
				return -EPROTO;
			p += 4;
			continue;
		default:
			return -EPROTO;
		}
		if (which == 1) {
			switch (key >> 3) {
			case 1: st->freezing_ms = (int64_t)v / 1000; break;
			case 2: st->frozen_ms = (int64_t)v / 1000; break;
			case 3: st->memdump_ms = (int64_t)v / 1000; break;
			case 4: st->memwrite_ms = (int64_t)v / 1000; break;
			case 5: st->pages_scanned = (int64_t)v; break;
			case 6: st->pages_skipped_parent = (int64_t)v; break;
			case 7: st->pages_written = (int64_t)v; break;
			case 9: st->pages_lazy = (int64_t)v; break;
			default: break;
			}
		} else if (which == 2) {
			switch (key >> 3) {
			case 3: st->forking_ms = (int64_t)v / 1000; break;
			case 4: st->restore_ms = (int64_t)v / 1000; break;
			case 5: st->pages_restored = (int64_t)v; break;
			default: break;
			}
		}
	}
	return 0;
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
	if (m[0] != IMG_SERVICE_MAGIC || m[1] != STATS_MAGIC || m[2] > len - sizeof(m))
		return -EPROTO;
	return pb_walk(p + sizeof(m), p + sizeof(m) + m[2], st, 0);
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

/* Sum the pages of one pagemap image's entries that are flagged lazy. */
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
		const uint8_t *q, *qend;
		uint64_t key, v, nr = 0, flags = 0;

		memcpy(&sz, p, 4);
		p += 4;
		if (sz > (size_t)(end - p))
			return -EPROTO;
		q = p;
		qend = p + sz;
		p = qend;
		if (head) {      /* pagemap_head */
			head = false;
			continue;
		}
		while (q < qend) {
			if (pb_varint(&q, qend, &key) < 0 || (key & 7) != 0 ||
			    pb_varint(&q, qend, &v) < 0)
				return -EPROTO;
			if ((key >> 3) == 2)
				nr = v;
			else if ((key >> 3) == 4)
				flags = v;
		}
		if (flags & PE_LAZY)
			*pages += (int64_t)nr;
	}
	return 0;
}

int criu_lazy_pages_count(int images_fd, int64_t *pages)
{
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	*pages = 0;
	fd = openat(images_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && ret == 0) {
		char path[64 + 256], *buf = NULL;
		size_t len;

		if (strncmp(de->d_name, "pagemap-", 8) != 0 || strstr(de->d_name, "shmem"))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", images_fd, de->d_name);
		ret = file_read_all(path, 64 << 20, &buf, &len);
		if (ret == 0)
			ret = pagemap_lazy((const uint8_t *)buf, len, pages);
		free(buf);
	}
	closedir(d);
	return ret;
}
