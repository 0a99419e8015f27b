/* test_zframe.c: unit tests for src/zframe.c, the compressed payloads of peer
 * frames: round trips, the raw fallback, AUTO's back-off, and the decoder's bounds
 * against frames a hostile peer could make (a zip bomb above the cap, a frame of
 * unknown size, a window too large, trailing bytes, garbage). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "peer.h"
#include "util.h"
#include "zframe.h"

/* Text-like bytes: words from a small vocabulary, as a heap of strings looks. */
static void fill_text(unsigned char *p, size_t n, unsigned seed)
{
	static const char *const words[] = { "hauld ", "memory ", "page ", "stream ",
		"migrate ", "zstd ", "frame ", "the ", "of ", "checkpoint " };
	size_t i = 0;

	while (i < n) {
		const char *w;

		seed = seed * 1103515245u + 12345u;
		w = words[(seed >> 16) % ARRAY_SIZE(words)];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (unsigned char)w[k];
	}
}

/* A zstd frame made outside zframe_pack, with what parameters a peer likes.
 * Heap, the caller frees. */
static unsigned char *make_frame(const void *in, size_t n, int content_size, int window_log,
				 size_t *zn)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);
	unsigned char *out = malloc(cap);

	ck_assert_ptr_nonnull(cc);
	ck_assert_ptr_nonnull(out);
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, content_size)));
	if (window_log)
		ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, window_log)));
	*zn = ZSTD_compress2(cc, out, cap, in, n);
	ck_assert(!ZSTD_isError(*zn));
	ZSTD_freeCCtx(cc);
	return out;
}

/* A zstd frame by hand, as a hostile peer makes it: a window of 2^(10+wexp)
 * bytes, a declared content size, and one RLE block of rle bytes of 'A'. Returns
 * its length in out (16 bytes at most). */
static size_t craft_rle(unsigned char *out, int wexp, uint32_t declared, uint32_t rle)
{
	size_t i = 0;
	uint32_t bh = 1u | 1u << 1 | rle << 3;   /* last block, RLE, rle bytes */

	out[i++] = 0x28;                          /* magic 0xFD2FB528, little endian */
	out[i++] = 0xb5;
	out[i++] = 0x2f;
	out[i++] = 0xfd;
	out[i++] = 0x80;                          /* 4-byte content size, a window byte */
	out[i++] = (unsigned char)(wexp << 3);
	for (int k = 0; k < 4; k++)
		out[i++] = (unsigned char)(declared >> (8 * k));
	out[i++] = (unsigned char)bh;
	out[i++] = (unsigned char)(bh >> 8);
	out[i++] = (unsigned char)(bh >> 16);
	out[i++] = 'A';
	return i;
}

START_TEST(test_roundtrip)
{
	struct zframe *a = zframe_new(ZFRAME_ON), *b = zframe_new(ZFRAME_ON);
	unsigned char *in = malloc(PEER_MAX_FRAME);
	struct zframe_stats st;
	const void *z, *out;
	size_t zn, on;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	fill_text(in, PEER_MAX_FRAME, 7);
	ck_assert_int_eq(zframe_pack(a, in, PEER_MAX_FRAME, &z, &zn), 1);
	ck_assert_uint_lt(zn, PEER_MAX_FRAME / 2);
	ck_assert_int_eq(zframe_unpack(b, z, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_uint_eq(on, PEER_MAX_FRAME);
	ck_assert_mem_eq(out, in, on);
	/* Zeros, as memory a program cleared: almost nothing on the wire. */
	memset(in, 0, PEER_MAX_FRAME);
	ck_assert_int_eq(zframe_pack(a, in, PEER_MAX_FRAME, &z, &zn), 1);
	ck_assert_uint_lt(zn, 1024);
	ck_assert_int_eq(zframe_unpack(b, z, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_uint_eq(on, PEER_MAX_FRAME);
	ck_assert_mem_eq(out, in, on);
	zframe_stats(a, &st);
	ck_assert_int_eq(st.raw, 2 * PEER_MAX_FRAME);
	ck_assert_int_eq(st.frames_z, 2);
	ck_assert_int_eq(st.frames_raw, 0);
	ck_assert_int_lt(st.packed, PEER_MAX_FRAME / 2);
	zframe_stats(b, &st);
	ck_assert_int_eq(st.unpacked, 2 * PEER_MAX_FRAME);
	zframe_free(a);
	zframe_free(b);
	free(in);
}
END_TEST

START_TEST(test_raw_fallback)
{
	struct zframe *a = zframe_new(ZFRAME_ON);
	unsigned char *in = malloc(PEER_MAX_FRAME);
	struct zframe_stats st;
	const void *z;
	size_t zn;

	ck_assert_int_eq(random_bytes(in, PEER_MAX_FRAME), 0);
	/* Random bytes do not get smaller: they go as they are. */
	ck_assert_int_eq(zframe_pack(a, in, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_ptr_eq(z, in);
	ck_assert_uint_eq(zn, PEER_MAX_FRAME);
	/* Too small to be worth a try. */
	memset(in, 0, 100);
	ck_assert_int_eq(zframe_pack(a, in, 100, &z, &zn), 0);
	ck_assert_uint_eq(zn, 100);
	zframe_stats(a, &st);
	ck_assert_int_eq(st.frames_raw, 2);
	ck_assert_int_eq(st.packed, PEER_MAX_FRAME + 100);
	ck_assert_int_eq(zframe_pack(a, in, 0, &z, &zn), -EINVAL);
	ck_assert_int_eq(zframe_pack(a, in, PEER_MAX_FRAME + 1, &z, &zn), -EINVAL);
	ck_assert_int_eq(zframe_pack(NULL, in, 100, &z, &zn), -EINVAL);
	zframe_free(a);
	zframe_free(NULL);
	free(in);
}
END_TEST

/* AUTO stops trying on incompressible memory for a stretch (so it costs little
 * CPU), tries again after it, and compresses at once what pays again; it does not
 * try while the link keeps up. */
START_TEST(test_auto_backoff)
{
	struct zframe *a = zframe_new(ZFRAME_AUTO);
	unsigned char *rnd = malloc(PEER_MAX_FRAME), *txt = malloc(PEER_MAX_FRAME);
	struct zframe_stats st;
	const void *z;
	size_t zn;
	int64_t ns;

	ck_assert_int_eq(random_bytes(rnd, PEER_MAX_FRAME), 0);
	fill_text(txt, PEER_MAX_FRAME, 3);
	ck_assert_int_eq(zframe_pack(a, rnd, PEER_MAX_FRAME, &z, &zn), 0);
	zframe_stats(a, &st);
	ns = st.pack_ns;
	ck_assert_int_gt(ns, 0);
	/* The next MiB goes untried: even text goes raw, and no CPU is spent. */
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 0);
	zframe_stats(a, &st);
	ck_assert_int_eq(st.pack_ns, ns);
	/* Then it tries again, and text pays. */
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	/* Random again: a stretch of 1 MiB, then random (2 MiB untried next)... */
	ck_assert_int_eq(zframe_pack(a, rnd, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_int_eq(zframe_pack(a, rnd, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_int_eq(zframe_pack(a, rnd, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 0);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	zframe_stats(a, &st);
	ck_assert_int_eq(st.frames_z, 2);
	ck_assert_int_eq(st.frames_raw, 7);
	/* A link that keeps up: raw, untried; ON does not care. */
	zframe_link_sample(a, 1000, -1, 1);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 0);
	zframe_stats(a, &st);
	ck_assert_int_eq(st.frames_idle, 1);
	zframe_link_sample(a, ZFRAME_LINK_BEHIND, -1, 2);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	zframe_free(a);
	a = zframe_new(ZFRAME_ON);
	zframe_link_sample(a, 1000, -1, 1);
	ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	zframe_free(a);
	/* A link behind, but draining at 100 GB/s: faster than any compressor, so
	 * AUTO sends raw once it knows its own speed (4 MiB tried), but for one
	 * chunk in 16. At 1 MB/s it compresses. */
	a = zframe_new(ZFRAME_AUTO);
	zframe_link_sample(a, 1 << 20, 0, 1000000000LL);
	zframe_link_sample(a, 1 << 20, 10000000000LL, 1100000000LL);
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	{
		int compressed = 0;

		for (int k = 0; k < 32; k++)
			compressed += zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn);
		ck_assert_int_eq(compressed, 2);
	}
	zframe_free(a);
	a = zframe_new(ZFRAME_AUTO);
	zframe_link_sample(a, 1 << 20, 0, 1000000000LL);
	zframe_link_sample(a, 1 << 20, 100000, 1100000000LL);
	for (int k = 0; k < 8; k++)
		ck_assert_int_eq(zframe_pack(a, txt, PEER_MAX_FRAME, &z, &zn), 1);
	zframe_free(a);
	free(rnd);
	free(txt);
}
END_TEST

/* A zip bomb: a few bytes that declare (and would make) 64 MiB. Refused from its
 * header, before any output; and the same below the declared size, with a cap. */
START_TEST(test_bomb)
{
	struct zframe *b = zframe_new(ZFRAME_ON);
	size_t big = 64u << 20, zn, on = 12345;
	unsigned char *zeros = calloc(1, big), *f;
	const void *out = NULL;

	ck_assert_ptr_nonnull(zeros);
	f = make_frame(zeros, big, 1, 0, &zn);
	ck_assert_uint_lt(zn, 64 * 1024);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), -EMSGSIZE);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(on, 12345);
	free(f);
	/* 1 MiB + 1 declared: one byte over a frame's bound. */
	f = make_frame(zeros, PEER_MAX_FRAME + 1, 1, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), -EMSGSIZE);
	free(f);
	/* 1 MiB, but the file being received has only 4 KiB left. */
	f = make_frame(zeros, PEER_MAX_FRAME, 1, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, 4096, &out, &on), -EMSGSIZE);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_uint_eq(on, PEER_MAX_FRAME);
	free(f);
	/* Without a declared size: refused whatever it holds. */
	f = make_frame(zeros, big, 0, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	free(f);
	f = make_frame(zeros, 4096, 0, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	free(f);
	zframe_free(b);
	free(zeros);
}
END_TEST

START_TEST(test_malformed)
{
	struct zframe *b = zframe_new(ZFRAME_ON);
	unsigned char *in = malloc(PEER_MAX_FRAME), *f, *two;
	const void *out;
	size_t zn, on;

	fill_text(in, 200000, 11);
	/* A window of 128 MiB asked for in a frame of 4 KiB: refused by the window
	 * bound. */
	zn = craft_rle(in, 17, 4096, 4096);
	ck_assert_int_eq(zframe_unpack(b, in, zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	/* The same with a 1 MiB window decodes: the crafting is right. */
	zn = craft_rle(in, 10, 4096, 4096);
	ck_assert_int_eq(zframe_unpack(b, in, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_uint_eq(on, 4096);
	ck_assert_int_eq(((const unsigned char *)out)[4095], 'A');
	/* A frame that declares 4 KiB and makes 8 KiB: the decoder stops at the
	 * declared size. */
	zn = craft_rle(in, 10, 4096, 8192);
	ck_assert_int_eq(zframe_unpack(b, in, zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	/* And one that declares 1 MiB and makes 4 KiB. */
	zn = craft_rle(in, 10, PEER_MAX_FRAME, 4096);
	ck_assert_int_eq(zframe_unpack(b, in, zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	fill_text(in, 200000, 11);
	f = make_frame(in, 200000, 1, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_mem_eq(out, in, 200000);
	/* Truncated, or one byte of garbage behind it, or two frames in one. */
	ck_assert_int_eq(zframe_unpack(b, f, zn - 1, PEER_MAX_FRAME, &out, &on), -EPROTO);
	two = malloc(2 * zn);
	memcpy(two, f, zn);
	two[zn] = 0;
	ck_assert_int_eq(zframe_unpack(b, two, zn + 1, PEER_MAX_FRAME, &out, &on), -EPROTO);
	memcpy(two + zn, f, zn);
	ck_assert_int_eq(zframe_unpack(b, two, 2 * zn, PEER_MAX_FRAME, &out, &on), -EPROTO);
	/* Changed bytes: a corrupt block or other bytes of the declared size, never a
	 * crash or more output. The seal makes
	 * this impossible on the wire; the decoder must not depend on it. */
	for (size_t k = 6; k < zn; k += 97) {
		int r;

		f[k] ^= 0x55;
		on = 0;
		r = zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on);
		ck_assert(r < 0 || on == 200000);
		f[k] ^= 0x55;
	}
	/* Not zstd at all, and nothing. */
	ck_assert_int_eq(zframe_unpack(b, "HLD1 not zstd", 13, PEER_MAX_FRAME, &out, &on), -EPROTO);
	ck_assert_int_eq(zframe_unpack(b, "", 0, PEER_MAX_FRAME, &out, &on), -EPROTO);
	ck_assert_int_eq(zframe_unpack(b, in, 10, 0, &out, &on), -EINVAL);
	ck_assert_int_eq(zframe_unpack(b, in, 10, PEER_MAX_FRAME + 1, &out, &on), -EINVAL);
	/* After all that, it still decodes a good frame. */
	free(f);
	f = make_frame(in, 200000, 1, 0, &zn);
	ck_assert_int_eq(zframe_unpack(b, f, zn, PEER_MAX_FRAME, &out, &on), 0);
	ck_assert_uint_eq(on, 200000);
	free(f);
	free(two);
	free(in);
	zframe_free(b);
}
END_TEST

START_TEST(test_codec_known)
{
	ck_assert_str_eq(zframe_codec_known("zstd"), "zstd");
	ck_assert_ptr_null(zframe_codec_known("lz4"));
	ck_assert_ptr_null(zframe_codec_known("ZSTD"));
	ck_assert_ptr_null(zframe_codec_known(""));
	ck_assert_ptr_null(zframe_codec_known(NULL));
}
END_TEST

static Suite *zframe_suite(void)
{
	Suite *s = suite_create("zframe");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_raw_fallback);
	tcase_add_test(tc, test_auto_backoff);
	tcase_add_test(tc, test_bomb);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_codec_known);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(zframe_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
