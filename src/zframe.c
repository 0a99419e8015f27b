/* zframe.c: compressed payloads of peer frames with libzstd (see zframe.h). */
#include "zframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* For ZSTD_getFrameHeader (stable since zstd 1.3, exported by Debian's libzstd):
 * the window a frame asks for, which the one-shot decoder does not check. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include "peer.h"

struct zframe {
	enum zframe_mode mode;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	unsigned char *zbuf;     /* compressed output: ZSTD_compressBound(PEER_MAX_FRAME) */
	size_t zcap;
	unsigned char *obuf;     /* decompressed output: PEER_MAX_FRAME */
	int64_t skip_left;       /* AUTO: raw bytes still to send untried */
	int64_t skip_next;       /* AUTO: the stretch after the next chunk that does not pay */
	bool link_idle;          /* AUTO: the link keeps up, compressing would not help */
	double link_bps;         /* AUTO: the fastest the link drained yet (0: unknown) */
	int64_t t_sample, acked_sample;  /* the start of the current drain measure */
	int64_t tried, tried_ns; /* raw bytes compressed, and the CPU time it took */
	unsigned slow_skips;     /* chunks sent raw because the CPU was the slower */
	struct zframe_stats st;
};

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void zframe_free(struct zframe *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	ZSTD_freeDCtx(z->dctx);
	free(z->zbuf);
	free(z->obuf);
	free(z);
}

struct zframe *zframe_new(enum zframe_mode mode)
{
	struct zframe *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->mode = mode == ZFRAME_AUTO ? ZFRAME_AUTO : ZFRAME_ON;
	z->skip_next = 1 << 20;
	z->zcap = ZSTD_compressBound(PEER_MAX_FRAME);
	z->cctx = ZSTD_createCCtx();
	z->dctx = ZSTD_createDCtx();
	z->zbuf = malloc(z->zcap);
	z->obuf = malloc(PEER_MAX_FRAME);
	if (!z->cctx || !z->dctx || !z->zbuf || !z->obuf ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, ZFRAME_LEVEL)) ||
	    /* The receiver refuses a frame without its size: always write it. The
	     * checksum is left out, the frame's seal covers more already. */
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax,
						ZFRAME_WINDOW_LOG_MAX))) {
		zframe_free(z);
		return NULL;
	}
	return z;
}

/* AUTO: a chunk that did not pay makes a longer stretch go untried; one that paid
 * starts the stretches again from the shortest. */
static void auto_learn(struct zframe *z, size_t n, size_t zn)
{
	if (z->mode != ZFRAME_AUTO)
		return;
	if ((double)zn < ZFRAME_AUTO_RATIO * (double)n) {
		z->skip_next = 1 << 20;
		return;
	}
	z->skip_left = z->skip_next;
	if (z->skip_next < ZFRAME_AUTO_SKIP_MAX)
		z->skip_next *= 2;
}

/* AUTO: the compressor is slower than the link has shown it can go, so
 * compressing would make the stream wait for the CPU instead of the link. One
 * chunk in 16 is tried anyway, so that the compressor's speed on what the memory
 * holds now stays known. (Where the CPU is faster, compressing only while the
 * link is behind mixes compressed and raw frames, keeping both busy.) */
static bool cpu_slower(struct zframe *z)
{
	double cpu_bps;

	if (z->link_bps <= 0 || z->tried < (4 << 20) || z->tried_ns <= 0)
		return false;
	cpu_bps = (double)z->tried * 1e9 / (double)z->tried_ns;
	if (cpu_bps >= ZFRAME_AUTO_CPU_MARGIN * z->link_bps)
		return false;
	return ++z->slow_skips % 16 != 0;
}

int zframe_pack(struct zframe *z, const void *in, size_t n, const void **out, size_t *outlen)
{
	int64_t t0;
	size_t zn;

	if (!z || !in || n == 0 || n > PEER_MAX_FRAME || !out || !outlen)
		return -EINVAL;
	z->st.raw += (int64_t)n;
	if (z->mode == ZFRAME_AUTO && (z->link_idle || cpu_slower(z))) {
		z->st.frames_idle++;
		goto raw;
	}
	if (n < ZFRAME_MIN_IN || z->skip_left > 0) {
		z->skip_left -= (int64_t)n;
		goto raw;
	}
	t0 = cpu_ns();
	zn = ZSTD_compress2(z->cctx, z->zbuf, z->zcap, in, n);
	t0 = cpu_ns() - t0;
	z->st.pack_ns += t0;
	z->tried += (int64_t)n;
	z->tried_ns += t0;
	if (ZSTD_isError(zn)) {
		/* A failed compression is not the stream's failure: it goes raw. */
		ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
		goto raw;
	}
	auto_learn(z, n, zn);
	if (zn >= n)
		goto raw;
	z->st.packed += (int64_t)zn;
	z->st.frames_z++;
	*out = z->zbuf;
	*outlen = zn;
	return 1;
raw:
	z->st.packed += (int64_t)n;
	z->st.frames_raw++;
	*out = in;
	*outlen = n;
	return 0;
}

void zframe_link_sample(struct zframe *z, int64_t queued, int64_t acked, int64_t now_ns)
{
	double bps;

	if (!z)
		return;
	z->link_idle = queued >= 0 && queued < ZFRAME_LINK_BEHIND;
	if (acked < 0 || z->t_sample == 0 || acked < z->acked_sample) {
		z->t_sample = now_ns;
		z->acked_sample = acked;
		return;
	}
	if (now_ns - z->t_sample < 20 * 1000000LL)
		return;
	/* The fastest the peer ever acknowledged over 20 ms is a speed the link has:
	 * a fast link shows it whenever we send raw, a slow one never exceeds its
	 * rate. */
	bps = (double)(acked - z->acked_sample) * 1e9 / (double)(now_ns - z->t_sample);
	if (bps > z->link_bps)
		z->link_bps = bps;
	z->t_sample = now_ns;
	z->acked_sample = acked;
}

int zframe_unpack(struct zframe *z, const void *in, size_t n, size_t cap,
		  const void **out, size_t *outlen)
{
	ZSTD_frameHeader fh;
	unsigned long long declared;
	size_t got;
	int64_t t0;

	if (!z || !in || !out || !outlen || cap == 0 || cap > PEER_MAX_FRAME)
		return -EINVAL;
	/* Decided from the frame's header alone, before any output is made. */
	if (ZSTD_getFrameHeader(&fh, in, n) != 0 || fh.frameType != ZSTD_frame)
		return -EPROTO;
	declared = fh.frameContentSize;
	if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR ||
	    declared == 0)
		return -EPROTO;
	if (declared > cap)
		return -EMSGSIZE;
	if (fh.windowSize > (1ULL << ZFRAME_WINDOW_LOG_MAX))
		return -EPROTO;
	/* Exactly one frame: nothing hides behind it. */
	if (ZSTD_findFrameCompressedSize(in, n) != n)
		return -EPROTO;
	t0 = cpu_ns();
	got = ZSTD_decompressDCtx(z->dctx, z->obuf, (size_t)declared, in, n);
	z->st.unpack_ns += cpu_ns() - t0;
	if (ZSTD_isError(got)) {
		ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only);
		return ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation ? -ENOMEM : -EPROTO;
	}
	if (got != declared)
		return -EPROTO;
	z->st.unpacked += (int64_t)got;
	*out = z->obuf;
	*outlen = got;
	return 0;
}

void zframe_stats(const struct zframe *z, struct zframe_stats *st)
{
	if (z)
		*st = z->st;
	else
		memset(st, 0, sizeof(*st));
}

const char *zframe_codec_known(const char *name)
{
	return name && strcmp(name, ZFRAME_CODEC) == 0 ? ZFRAME_CODEC : NULL;
}
