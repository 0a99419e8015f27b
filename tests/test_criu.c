/* test_criu.c: the stats-image parser on hand-built protobuf bytes (good, truncated,
 * malformed), child_wait's deadline, and, when CRIU is installed and we are root,
 * criu_detect and the cpuinfo dump/check against the real binary. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "criu.h"
#include "spawn.h"
#include "util.h"
#include "../src/criu_int.h"

#define IMG_SERVICE_MAGIC 0x55105940u
#define STATS_MAGIC       0x57093306u

/* ---- a tiny protobuf writer ---- */

struct pb {
	uint8_t b[1024];
	size_t n;
};

static void pb_byte(struct pb *p, uint8_t c)
{
	ck_assert_uint_lt(p->n, sizeof(p->b));
	p->b[p->n++] = c;
}

static void pb_raw(struct pb *p, const void *buf, size_t len)
{
	ck_assert_uint_le(p->n + len, sizeof(p->b));
	memcpy(p->b + p->n, buf, len);
	p->n += len;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(p, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pb_byte(p, (uint8_t)v);
}

static void pb_key(struct pb *p, unsigned field, unsigned wire)
{
	pb_varint(p, ((uint64_t)field << 3) | wire);
}

/* A varint field (wire type 0). */
static void pb_uint(struct pb *p, unsigned field, uint64_t v)
{
	pb_key(p, field, 0);
	pb_varint(p, v);
}

/* A length-delimited field (wire type 2) holding sub. */
static void pb_msg(struct pb *p, unsigned field, const struct pb *sub)
{
	pb_key(p, field, 2);
	pb_varint(p, sub->n);
	pb_raw(p, sub->b, sub->n);
}

/* The image: two magics, the entry's length, the entry. */
static void image(struct pb *img, const struct pb *entry, uint32_t m0, uint32_t m1,
		  uint32_t len)
{
	memset(img, 0, sizeof(*img));
	pb_raw(img, &m0, 4);
	pb_raw(img, &m1, 4);
	pb_raw(img, &len, 4);
	pb_raw(img, entry->b, entry->n);
}

static void good_image(struct pb *img, const struct pb *entry)
{
	image(img, entry, IMG_SERVICE_MAGIC, STATS_MAGIC, (uint32_t)entry->n);
}

/* dump_stats_entry with every field CRIU always writes. */
static void dump_entry(struct pb *d)
{
	memset(d, 0, sizeof(*d));
	pb_uint(d, 1, 1500);        /* freezing_time, us */
	pb_uint(d, 2, 250999);      /* frozen_time */
	pb_uint(d, 3, 999);         /* memdump_time */
	pb_uint(d, 4, 12345678);    /* memwrite_time */
	pb_uint(d, 5, 1000);        /* pages_scanned */
	pb_uint(d, 6, 20);          /* pages_skipped_parent */
	pb_uint(d, 7, 980);         /* pages_written */
	pb_uint(d, 9, 7);           /* pages_lazy */
}

static void restore_entry(struct pb *r)
{
	memset(r, 0, sizeof(*r));
	pb_uint(r, 1, 11);          /* pages_compared */
	pb_uint(r, 2, 22);          /* pages_skipped_cow */
	pb_uint(r, 3, 3000);        /* forking_time, us */
	pb_uint(r, 4, 45678);       /* restore_time */
	pb_uint(r, 5, 300);         /* pages_restored */
}

static void check_dump(const struct criu_stats *st)
{
	ck_assert(st->has_dump);
	ck_assert_int_eq(st->freezing_ms, 1);
	ck_assert_int_eq(st->frozen_ms, 250);
	ck_assert_int_eq(st->memdump_ms, 0);
	ck_assert_int_eq(st->memwrite_ms, 12345);
	ck_assert_int_eq(st->pages_scanned, 1000);
	ck_assert_int_eq(st->pages_skipped_parent, 20);
	ck_assert_int_eq(st->pages_written, 980);
	ck_assert_int_eq(st->pages_lazy, 7);
}

static void check_restore(const struct criu_stats *st)
{
	ck_assert(st->has_restore);
	ck_assert_int_eq(st->forking_ms, 3);
	ck_assert_int_eq(st->restore_ms, 45);
	ck_assert_int_eq(st->pages_restored, 300);
}

/* ---- criu_stats_parse ---- */

START_TEST(test_stats_dump)
{
	struct pb d, e, img;
	struct criu_stats st;

	dump_entry(&d);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	memset(&st, 0x5a, sizeof(st));
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	check_dump(&st);
	ck_assert(!st.has_restore);
	ck_assert_int_eq(st.forking_ms, 0);
	ck_assert_int_eq(st.restore_ms, 0);
	ck_assert_int_eq(st.pages_restored, 0);
}
END_TEST

START_TEST(test_stats_restore)
{
	struct pb r, e, img;
	struct criu_stats st;

	restore_entry(&r);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 2, &r);
	good_image(&img, &e);
	memset(&st, 0x5a, sizeof(st));
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	check_restore(&st);
	ck_assert(!st.has_dump);
	ck_assert_int_eq(st.frozen_ms, 0);
	ck_assert_int_eq(st.pages_written, 0);
}
END_TEST

START_TEST(test_stats_both_and_empty)
{
	struct pb d, r, e, img;
	struct criu_stats st;

	dump_entry(&d);
	restore_entry(&r);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 2, &r);
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	check_dump(&st);
	check_restore(&st);

	/* An empty stats_entry, and empty sub-messages. */
	memset(&e, 0, sizeof(e));
	good_image(&img, &e);
	ck_assert_int_eq(img.n, 12);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	ck_assert(!st.has_dump && !st.has_restore);

	memset(&d, 0, sizeof(d));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	ck_assert(st.has_dump);
	ck_assert_int_eq(st.frozen_ms, 0);

	/* Bytes after the entry's length are not part of it. */
	dump_entry(&d);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	pb_byte(&img, 0xff);
	pb_byte(&img, 0xff);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	check_dump(&st);
}
END_TEST

START_TEST(test_stats_large_values)
{
	struct pb d, e, img;
	struct criu_stats st;

	/* uint32 times at their maximum, a 64-bit page count. */
	memset(&d, 0, sizeof(d));
	pb_uint(&d, 2, UINT32_MAX);
	pb_uint(&d, 7, (uint64_t)1 << 40);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	ck_assert_int_eq(st.frozen_ms, UINT32_MAX / 1000);
	ck_assert_int_eq(st.pages_written, (int64_t)1 << 40);
}
END_TEST

START_TEST(test_stats_truncated)
{
	struct pb d, r, e, img;
	struct criu_stats st;

	dump_entry(&d);
	restore_entry(&r);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	pb_msg(&e, 2, &r);
	good_image(&img, &e);
	/* Every cut of the image: shorter than the header, or shorter than the length
	 * it announces. */
	for (size_t k = 0; k < img.n; k++)
		ck_assert_msg(criu_stats_parse(img.b, k, &st) == -EPROTO, "cut at %zu parsed", k);

	/* Cut inside the entry with a header that agrees: every cut of e that does not
	 * end on a field boundary of stats_entry is malformed. */
	for (size_t k = 1; k < e.n; k++) {
		struct pb cut = e;
		int ret;

		cut.n = k;
		good_image(&img, &cut);
		ret = criu_stats_parse(img.b, img.n, &st);
		if (k == 2 + d.n)   /* exactly the dump field: a valid message */
			ck_assert_int_eq(ret, 0);
		else
			ck_assert_msg(ret == -EPROTO, "entry cut at %zu parsed", k);
	}
}
END_TEST

START_TEST(test_stats_bad_magic)
{
	struct pb d, e, img;
	struct criu_stats st;

	dump_entry(&d);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);

	image(&img, &e, IMG_SERVICE_MAGIC ^ 1, STATS_MAGIC, (uint32_t)e.n);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	image(&img, &e, IMG_SERVICE_MAGIC, STATS_MAGIC ^ 0x80000000u, (uint32_t)e.n);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	/* The magics swapped, and the inventory magic of another image. */
	image(&img, &e, STATS_MAGIC, IMG_SERVICE_MAGIC, (uint32_t)e.n);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	image(&img, &e, 0, 0, (uint32_t)e.n);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	ck_assert(!st.has_dump);
}
END_TEST

START_TEST(test_stats_length_past_end)
{
	struct pb d, e, img, sub;
	struct criu_stats st;

	dump_entry(&d);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);

	image(&img, &e, IMG_SERVICE_MAGIC, STATS_MAGIC, (uint32_t)e.n + 1);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	image(&img, &e, IMG_SERVICE_MAGIC, STATS_MAGIC, UINT32_MAX);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	image(&img, &e, IMG_SERVICE_MAGIC, STATS_MAGIC, 0x80000000u);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* A sub-message whose length runs past the entry. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 1, 2);
	pb_varint(&e, d.n + 1);
	pb_raw(&e, d.b, d.n);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* ... and a huge one, which must not wrap the pointer arithmetic. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 1, 2);
	pb_varint(&e, UINT64_MAX);
	pb_raw(&e, d.b, d.n);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* A length-delimited field inside dump_stats_entry running past its end. */
	memset(&sub, 0, sizeof(sub));
	pb_uint(&sub, 2, 5000);
	pb_key(&sub, 15, 2);
	pb_varint(&sub, 50);
	pb_byte(&sub, 1);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &sub);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
}
END_TEST

START_TEST(test_stats_overlong_varint)
{
	struct pb e, img;
	struct criu_stats st;

	/* An 11-byte varint value. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 3, 0);
	for (int i = 0; i < 10; i++)
		pb_byte(&e, 0x80);
	pb_byte(&e, 0x01);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* An overlong key. */
	memset(&e, 0, sizeof(e));
	for (int i = 0; i < 11; i++)
		pb_byte(&e, 0xff);
	pb_byte(&e, 0x00);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* A varint that never ends before the buffer does. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 3, 0);
	pb_byte(&e, 0x80);
	pb_byte(&e, 0x80);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* Overlong inside the dump entry. */
	{
		struct pb d;

		memset(&d, 0, sizeof(d));
		pb_key(&d, 2, 0);
		for (int i = 0; i < 12; i++)
			pb_byte(&d, 0x81);
		pb_byte(&d, 0x01);
		memset(&e, 0, sizeof(e));
		pb_msg(&e, 1, &d);
		good_image(&img, &e);
		ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	}

	/* A 10-byte varint (the longest legal one) is fine. */
	memset(&e, 0, sizeof(e));
	pb_uint(&e, 3, UINT64_MAX);
	good_image(&img, &e);
	ck_assert_int_eq(e.n, 11);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
}
END_TEST

START_TEST(test_stats_unknown_fields)
{
	struct pb d, r, e, img, junk;
	uint64_t f64 = 0x0123456789abcdefULL;
	uint32_t f32 = 0xdeadbeef;
	struct criu_stats st;

	memset(&junk, 0, sizeof(junk));
	pb_uint(&junk, 1, 123456789);   /* looks like freezing_time, but nested deeper */

	/* dump_stats_entry with the optional fields hauld ignores, unknown numbers of
	 * every skippable wire type, and a known number with the wrong wire type. */
	dump_entry(&d);
	pb_uint(&d, 8, 42);               /* irmap_resolve */
	pb_uint(&d, 10, 3);               /* page_pipes */
	pb_uint(&d, 11, 4);               /* page_pipe_bufs */
	pb_uint(&d, 12, 5);               /* shpages_* */
	pb_uint(&d, 13, 6);
	pb_uint(&d, 14, 7);
	pb_uint(&d, 100, 8);
	pb_msg(&d, 15, &junk);
	pb_key(&d, 16, 1);
	pb_raw(&d, &f64, 8);
	pb_key(&d, 17, 5);
	pb_raw(&d, &f32, 4);

	restore_entry(&r);
	pb_key(&r, 9, 1);
	pb_raw(&r, &f64, 8);
	pb_key(&r, 10, 5);
	pb_raw(&r, &f32, 4);
	pb_uint(&r, 11, 99);

	memset(&e, 0, sizeof(e));
	pb_uint(&e, 3, 77);               /* unknown in stats_entry */
	pb_key(&e, 4, 1);
	pb_raw(&e, &f64, 8);
	pb_key(&e, 5, 5);
	pb_raw(&e, &f32, 4);
	pb_msg(&e, 6, &junk);
	pb_msg(&e, 1, &d);
	pb_key(&e, 7, 5);
	pb_raw(&e, &f32, 4);
	pb_msg(&e, 2, &r);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), 0);
	check_dump(&st);
	check_restore(&st);

	/* A known field with another wire type than CRIU's is not CRIU's image. */
	dump_entry(&d);
	pb_key(&d, 2, 1);                 /* frozen_time as fixed64 */
	pb_raw(&d, &f64, 8);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
}
END_TEST

START_TEST(test_stats_bad_wire)
{
	struct pb e, img;
	uint32_t f32 = 1;
	struct criu_stats st;

	/* Truncated fixed64 and fixed32. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 9, 1);
	pb_raw(&e, &f32, 4);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	memset(&e, 0, sizeof(e));
	pb_key(&e, 9, 5);
	pb_byte(&e, 1);
	pb_byte(&e, 2);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);

	/* Group wire types (3, 4) and the undefined 6, 7 are not skippable. */
	for (unsigned w = 3; w <= 7; w++) {
		if (w == 5)
			continue;
		memset(&e, 0, sizeof(e));
		pb_key(&e, 9, w);
		pb_byte(&e, 0);
		good_image(&img, &e);
		ck_assert_msg(criu_stats_parse(img.b, img.n, &st) == -EPROTO, "wire %u", w);
	}
	/* A key with no value. */
	memset(&e, 0, sizeof(e));
	pb_key(&e, 9, 0);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
	memset(&e, 0, sizeof(e));
	pb_key(&e, 9, 2);
	good_image(&img, &e);
	ck_assert_int_eq(criu_stats_parse(img.b, img.n, &st), -EPROTO);
}
END_TEST

START_TEST(test_stats_null)
{
	struct criu_stats st;
	static const uint8_t garbage[64] = { 0xff, 0xff, 0xff, 0xff };

	ck_assert_int_eq(criu_stats_parse(NULL, 0, &st), -EPROTO);
	ck_assert_int_eq(criu_stats_parse(NULL, 100, &st), -EPROTO);
	ck_assert_int_eq(criu_stats_parse(garbage, 0, &st), -EPROTO);
	ck_assert_int_eq(criu_stats_parse(garbage, 11, &st), -EPROTO);
	ck_assert_int_eq(criu_stats_parse(garbage, sizeof(garbage), &st), -EPROTO);
	ck_assert(!st.has_dump && !st.has_restore);
}
END_TEST

START_TEST(test_stats_read)
{
	char dir[64], path[128];
	struct pb d, e, img;
	struct criu_stats st;
	int fd;

	strcpy(dir, "/tmp/hauld-test-criu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stats-dump", dir);
	dump_entry(&d);
	memset(&e, 0, sizeof(e));
	pb_msg(&e, 1, &d);
	good_image(&img, &e);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, img.b, img.n), 0);
	close(fd);
	ck_assert_int_eq(criu_stats_read(path, &st), 0);
	check_dump(&st);

	/* A malformed file, and none. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, img.b, 10), 0);
	close(fd);
	ck_assert_int_eq(criu_stats_read(path, &st), -EPROTO);
	unlink(path);
	ck_assert_int_eq(criu_stats_read(path, &st), -ENOENT);
	rmdir(dir);
}
END_TEST

/* ---- pagemap images: the lazy pages ---- */

#define IMG_COMMON_MAGIC 0x54564319u
#define PAGEMAP_MAGIC    0x56084025u

/* Append one entry, preceded by its 32-bit length, to a pagemap image. */
static void pm_entry(struct pb *img, const struct pb *entry)
{
	uint32_t len = (uint32_t)entry->n;

	pb_raw(img, &len, 4);
	pb_raw(img, entry->b, entry->n);
}

/* A run of nr pages with flags; CRIU 4.2 writes nr_pages (field 5), older versions
 * compat_nr_pages (field 2). */
static void pm_run(struct pb *img, uint64_t vaddr, uint64_t nr, unsigned flags, bool v42)
{
	struct pb e = { .n = 0 };

	pb_uint(&e, 1, vaddr);
	pb_uint(&e, 2, v42 ? 0 : nr);
	pb_uint(&e, 4, flags);
	if (v42)
		pb_uint(&e, 5, nr);
	pm_entry(img, &e);
}

static void pm_write(const char *dir, const char *name, const struct pb *img)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, img->b, img->n), 0);
	close(fd);
}

static void pm_head(struct pb *img)
{
	uint32_t m[2] = { IMG_COMMON_MAGIC, PAGEMAP_MAGIC };
	struct pb h = { .n = 0 };

	memset(img, 0, sizeof(*img));
	pb_raw(img, m, sizeof(m));
	pb_uint(&h, 1, 3);              /* pages_id */
	pm_entry(img, &h);
}

static int64_t lazy_count(const char *dir)
{
	int64_t pages = -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int ret;

	ck_assert_int_ge(fd, 0);
	ret = criu_lazy_pages_count(fd, &pages);
	close(fd);
	return ret < 0 ? ret : pages;
}

START_TEST(test_pagemap_lazy)
{
	char dir[64], path[160];
	struct pb img;

	strcpy(dir, "/tmp/hauld-test-criu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* CRIU 4.1: compat_nr_pages; lazy (2) counts, present-only (4) does not. */
	pm_head(&img);
	pm_run(&img, 0x1000, 10, 2 | 4, false);
	pm_run(&img, 0x20000, 5, 4, false);
	pm_write(dir, "pagemap-1.img", &img);
	ck_assert_int_eq(lazy_count(dir), 10);
	/* CRIU 4.2: nr_pages, compat_nr_pages 0, in a second process's image. */
	pm_head(&img);
	pm_run(&img, 0x1000, 1ULL << 33, 2, true);
	pm_run(&img, 0x40000, 7, 2 | 1, true);
	pm_write(dir, "pagemap-2.img", &img);
	ck_assert_int_eq(lazy_count(dir), 10 + (1LL << 33) + 7);
	/* Shared memory's pagemaps are not the tree's private pages. */
	pm_write(dir, "pagemap-shmem-99.img", &img);
	ck_assert_int_eq(lazy_count(dir), 10 + (1LL << 33) + 7);
	/* A truncated entry, and an image of another kind. */
	img.n -= 2;
	pm_write(dir, "pagemap-2.img", &img);
	ck_assert_int_eq(lazy_count(dir), -EPROTO);
	img.b[0] ^= 1;
	pm_write(dir, "pagemap-2.img", &img);
	ck_assert_int_eq(lazy_count(dir), -EPROTO);
	snprintf(path, sizeof(path), "%s/pagemap-1.img", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pagemap-2.img", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/pagemap-shmem-99.img", dir);
	unlink(path);
	ck_assert_int_eq(lazy_count(dir), 0);
	rmdir(dir);
}
END_TEST

/* mm-ID.img with the arguments at [arg0, arg1) and the environment after them. */
static void mm_write(const char *dir, const char *name, uint64_t arg0, uint64_t arg1,
		     uint64_t env1)
{
	uint32_t m[2] = { IMG_COMMON_MAGIC, 0x57492820u };
	struct pb img = { .n = 0 }, e = { .n = 0 };

	for (int f = 1; f <= 7; f++)
		pb_uint(&e, f, 0x400000);
	pb_uint(&e, 8, arg0);
	pb_uint(&e, 9, arg1);
	pb_uint(&e, 10, arg1);
	pb_uint(&e, 11, env1);
	pb_uint(&e, 12, 5);
	pb_raw(&img, m, sizeof(m));
	pm_entry(&img, &e);
	pm_write(dir, name, &img);
}

static int64_t args_eager(const char *dir, int *ret)
{
	int64_t pages = -1;
	int fd = open(dir, O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(fd, 0);
	*ret = criu_pagemap_args_eager(fd, &pages);
	close(fd);
	return pages;
}

START_TEST(test_pagemap_args_eager)
{
	char dir[64], path[160];
	struct pb img;
	int ret;

	strcpy(dir, "/tmp/hauld-test-criu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* Task 1 (CRIU 4.2 entries): the stack runs 0x7000..0x17000 (16 pages), lazy and
	 * present; its arguments and environment take 0x14100..0x15f00, two pages. */
	pm_head(&img);
	pm_run(&img, 0x1000, 3, 2 | 4, true);
	pm_run(&img, 0x7000, 16, 2 | 4, true);
	pm_write(dir, "pagemap-1.img", &img);
	mm_write(dir, "mm-1.img", 0x14100, 0x15000, 0x15f00);
	/* Task 2 (CRIU 4.1 entries): the arguments in a run that is not lazy. */
	pm_head(&img);
	pm_run(&img, 0x9000, 4, 4, false);
	pm_write(dir, "pagemap-2.img", &img);
	mm_write(dir, "mm-2.img", 0x9000, 0x9100, 0x9200);
	/* Task 3 has no mm image: left alone. */
	pm_head(&img);
	pm_run(&img, 0x9000, 4, 2 | 4, false);
	pm_write(dir, "pagemap-3.img", &img);
	ck_assert_int_eq(lazy_count(dir), 3 + 16 + 4);
	ck_assert_int_eq(args_eager(dir, &ret), 2);
	ck_assert_int_eq(ret, 0);
	/* Two pages fewer are lazy, and the first task's stack is now three runs in
	 * order: 0x7000 (13 lazy), 0x14000 (2, present only), 0x16000 (1 lazy). */
	ck_assert_int_eq(lazy_count(dir), 3 + 14 + 4);
	pm_head(&img);
	pm_run(&img, 0x1000, 3, 2 | 4, true);
	pm_run(&img, 0x7000, 13, 2 | 4, true);
	pm_run(&img, 0x14000, 2, 4, true);
	pm_run(&img, 0x16000, 1, 2 | 4, true);
	{
		char *buf = NULL;
		size_t len;

		snprintf(path, sizeof(path), "%s/pagemap-1.img", dir);
		ck_assert_int_eq(file_read_all(path, 1 << 20, &buf, &len), 0);
		ck_assert_uint_eq(len, img.n);
		ck_assert(memcmp(buf, img.b, len) == 0);
		free(buf);
	}
	/* Again: nothing left to change. */
	ck_assert_int_eq(args_eager(dir, &ret), 0);
	ck_assert_int_eq(ret, 0);
	/* A truncated pagemap is refused and left as it was. */
	pm_head(&img);
	pm_run(&img, 0x9000, 4, 2 | 4, false);
	img.n -= 2;
	pm_write(dir, "pagemap-2.img", &img);
	args_eager(dir, &ret);
	ck_assert_int_eq(ret, -EPROTO);
	{
		struct stat st;

		snprintf(path, sizeof(path), "%s/pagemap-2.img", dir);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(st.st_size, (off_t)img.n);
	}
	for (int i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "%s/pagemap-%d.img", dir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/mm-%d.img", dir, i);
		unlink(path);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- log_last_error ---- */

static void log_case(const char *dir, const char *text, const char *want)
{
	char path[128], err[256] = "";
	int fd, dfd;

	snprintf(path, sizeof(path), "%s/dump.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, text, strlen(text)), 0);
	close(fd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dfd, 0);
	log_last_error(dfd, "dump.log", err, sizeof(err));
	close(dfd);
	ck_assert_str_eq(err, want);
}

START_TEST(test_log_last_error)
{
	char dir[64], path[128];

	strcpy(dir, "/tmp/hauld-test-criu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* The cause, not CRIU's start-up noise nor its closing summary. */
	log_case(dir,
		 "(00.000100) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n"
		 "(00.100000) Dumping path for 3 fd via self 9 [/dev/null]\n"
		 "(00.200000) Error (criu/page-xfer.c:100): Can't write to socket: Broken pipe\n"
		 "(00.300000) Error (criu/mem.c:200): Can't dump page with parasite\n"
		 "(00.400000) Error (criu/cr-dump.c:2100): Dumping FAILED.\n",
		 "Can't dump page with parasite");
	/* Only the summary: better than nothing. */
	log_case(dir, "(00.000100) Error (criu/cr-dump.c:2100): Dumping FAILED.\n",
		 "Dumping FAILED.");
	/* Nothing but the noise: nothing. */
	log_case(dir, "(00.000100) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE\n"
		 "(00.000200) Warn (criu/kerndat.c:1): something\n", "");
	snprintf(path, sizeof(path), "%s/dump.log", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- child_wait ---- */

static pid_t spawn_cmd(char *const argv[])
{
	pid_t p = fork();

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	return p;
}

START_TEST(test_child_wait_kills)
{
	char *argv[] = { "sleep", "5", NULL };
	pid_t p = spawn_cmd(argv);
	int64_t t0 = time_mono_ms();
	int st = child_wait(p, 100);
	int64_t took = time_mono_ms() - t0;

	ck_assert_int_ge(st, 0);
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(WTERMSIG(st), SIGKILL);
	ck_assert_int_ge(took, 90);
	ck_assert_int_lt(took, 3000);
	/* Reaped: it is no longer our child. */
	ck_assert_int_eq(waitpid(p, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(test_child_wait_exits)
{
	char *argv[] = { "sh", "-c", "exit 3", NULL };
	char *argv2[] = { "true", NULL };
	pid_t p;
	int st;

	st = child_wait(spawn_cmd(argv), 5000);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 3);
	/* No deadline. */
	st = child_wait(spawn_cmd(argv2), -1);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* Not a child any more (already reaped). */
	p = spawn_cmd(argv2);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	ck_assert_int_eq(child_wait(p, 10), -ECHILD);
}
END_TEST

START_TEST(test_run_capture_deadline)
{
	/* A program that hangs, and one that leaves a child holding the pipe: the
	 * deadline covers reading the output, not only the wait. */
	char *hang[] = { "/bin/sh", "-c", "echo started; exec sleep 30", NULL };
	char *holder[] = { "/bin/sh", "-c", "echo hi; sleep 30 & exit 0", NULL };
	char *fine[] = { "/bin/sh", "-c", "echo done; exit 4", NULL };
	char out[64];
	int64_t t0 = time_mono_ms();

	ck_assert_int_eq(run_capture(hang, out, sizeof(out), 200), -ETIMEDOUT);
	ck_assert_str_eq(out, "started\n");
	ck_assert_int_eq(run_capture(holder, out, sizeof(out), 200), -ETIMEDOUT);
	ck_assert_str_eq(out, "hi\n");
	ck_assert_int_lt(time_mono_ms() - t0, 10000);
	ck_assert_int_eq(run_capture(fine, out, sizeof(out), 5000), 4);
	ck_assert_str_eq(out, "done\n");
}
END_TEST

START_TEST(test_spawn_no_leak)
{
	/* A descriptor opened without close-on-exec (as a library might) does not
	 * reach a spawned program; one it is given does. */
	char *ls[] = { "/bin/sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '", NULL };
	char out[256], want[64];
	int leak = open("/dev/null", O_RDONLY), keep_fd[2];
	int ret;

	ck_assert_int_ge(leak, 0);
	ck_assert_int_eq(pipe2(keep_fd, O_CLOEXEC), 0);
	ret = run_capture(ls, out, sizeof(out), 5000);
	ck_assert_int_eq(ret, 0);
	/* 0, 1, 2, and the fd ls itself opens to read the directory. */
	ck_assert_msg(strstr(out, "0 1 2 3 ") == out && !strstr(out, " 4 "),
		      "the child had: %s (leak was fd %d)", out, leak);
	{
		char *argv[] = { "/bin/sh", "-c", "ls /proc/self/fd >&2", NULL };
		pid_t p;
		char buf[256] = "";
		ssize_t n;
		int pfd[2];

		ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
		ck_assert_int_eq(spawn(argv, &keep_fd[0], 1, pfd[1], &p), 0);
		close(pfd[1]);
		n = read(pfd[0], buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(pfd[0]);
		child_wait(p, 5000);
		snprintf(want, sizeof(want), "\n%d\n", keep_fd[0]);
		ck_assert_msg(strstr(buf, want), "kept fd %d missing: %s", keep_fd[0], buf);
	}
	close(leak);
	close(keep_fd[0]);
	close(keep_fd[1]);
}
END_TEST

/* ---- the real CRIU ---- */

static int have_criu(void)
{
	return access("/usr/local/sbin/criu", X_OK) == 0 && geteuid() == 0;
}

START_TEST(test_criu_detect)
{
	struct criu_info info;

	if (!have_criu()) {
		fprintf(stderr, "test_criu_detect: skipped (no /usr/local/sbin/criu or not root)\n");
		return;
	}
	criu_detect(&info);
	ck_assert_str_eq(info.path, "/usr/local/sbin/criu");
	ck_assert_str_eq(criu_path(), "/usr/local/sbin/criu");
	ck_assert_msg(info.version >= 40000, "version %d", info.version);
	ck_assert_int_gt(strlen(info.version_text), 0);
	ck_assert_msg(info.check_ok, "criu check: %s", info.check_error);
}
END_TEST

START_TEST(test_criu_cpuinfo)
{
	char dir[64], path[128], err[256] = "";
	struct criu_info info;

	if (!have_criu()) {
		fprintf(stderr, "test_criu_cpuinfo: skipped (no /usr/local/sbin/criu or not root)\n");
		return;
	}
	criu_detect(&info);
	strcpy(dir, "/tmp/hauld-test-criu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(criu_cpuinfo_dump(dir, err, sizeof(err)) == 0, "dump: %s", err);
	snprintf(path, sizeof(path), "%s/cpuinfo.img", dir);
	ck_assert_int_eq(access(path, R_OK), 0);
	ck_assert_msg(criu_cpuinfo_check(dir, err, sizeof(err)) == 0, "check: %s", err);
	unlink(path);

	/* No image to check: a failure with a sentence. */
	err[0] = '\0';
	ck_assert_int_lt(criu_cpuinfo_check(dir, err, sizeof(err)), 0);
	ck_assert_int_gt(strlen(err), 0);
	rm_rf(dir);
}
END_TEST

static Suite *criu_suite(void)
{
	Suite *s = suite_create("criu");
	TCase *tc = tcase_create("stats");

	tcase_add_test(tc, test_stats_dump);
	tcase_add_test(tc, test_stats_restore);
	tcase_add_test(tc, test_stats_both_and_empty);
	tcase_add_test(tc, test_stats_large_values);
	tcase_add_test(tc, test_stats_truncated);
	tcase_add_test(tc, test_stats_bad_magic);
	tcase_add_test(tc, test_stats_length_past_end);
	tcase_add_test(tc, test_stats_overlong_varint);
	tcase_add_test(tc, test_stats_unknown_fields);
	tcase_add_test(tc, test_stats_bad_wire);
	tcase_add_test(tc, test_stats_null);
	tcase_add_test(tc, test_stats_read);
	tcase_add_test(tc, test_pagemap_lazy);
	tcase_add_test(tc, test_pagemap_args_eager);
	tcase_add_test(tc, test_log_last_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("child");
	tcase_add_test(tc, test_child_wait_kills);
	tcase_add_test(tc, test_child_wait_exits);
	tcase_add_test(tc, test_run_capture_deadline);
	tcase_add_test(tc, test_spawn_no_leak);
	suite_add_tcase(s, tc);

	tc = tcase_create("real");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_criu_detect);
	tcase_add_test(tc, test_criu_cpuinfo);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(criu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
