/* zframe.h: compressed payloads of peer frames (api/peer-protocol.md, "Compression").
 * A ZSTREAM or ZDATA frame carries one complete zstd frame that holds 1 ..
 * PEER_MAX_FRAME bytes of CRIU's stream or of a file, its content size declared in
 * its header. Every frame is compressed on its own (no dictionary or window shared
 * between frames), so that a frame can go raw when compressing did not pay, and a
 * receiver needs no more memory than one frame's output whatever a peer sends.
 *
 * The decoder is the bound against a hostile peer that knows the secret: it
 * refuses a frame whose declared content size is unknown or above the caller's
 * cap before it decompresses anything, never writes more than cap bytes, refuses
 * a window above ZFRAME_WINDOW_LOG_MAX, trailing bytes, and a frame whose output
 * differs from what it declared.
 *
 * Functions return 0 (or 1 where said) or a negative errno. Not thread-safe: one
 * zframe serves one connection, which one thread uses at a time. */
#ifndef HAULD_ZFRAME_H
#define HAULD_ZFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZFRAME_CODEC          "zstd"
#define ZFRAME_LEVEL          1         /* fastest of zstd's: the link is the point */
#define ZFRAME_WINDOW_LOG_MAX 20        /* 1 MiB: no frame holds more */
#define ZFRAME_MIN_IN         512       /* smaller chunks go raw: not worth a frame */

/* How a sender chooses. ON compresses every chunk and sends it compressed when it
 * got smaller. AUTO does the same, but a chunk that did not get below
 * ZFRAME_AUTO_RATIO of its size makes the next ones go raw untried for a stretch
 * that doubles each time (1 MiB up to ZFRAME_AUTO_SKIP_MAX), so that incompressible
 * memory costs little CPU; then it tries again, since memory changes in kind
 * (heap, then zeros, then a random buffer). AUTO also sends raw, untried, while
 * the link keeps up or drains faster than the compressor works
 * (zframe_link_sample): compressing pays only where the link, not CRIU or the
 * CPU, is what the stream waits for. */
enum zframe_mode { ZFRAME_ON = 1, ZFRAME_AUTO = 2 };
#define ZFRAME_AUTO_RATIO     0.9
#define ZFRAME_AUTO_SKIP_MAX  (32LL << 20)
#define ZFRAME_AUTO_CPU_MARGIN 1.0      /* compress while the CPU outruns the link */

struct zframe_stats {
	int64_t raw;           /* bytes handed to zframe_pack */
	int64_t packed;        /* bytes of payload they went as (compressed or raw) */
	int64_t frames_z, frames_raw;  /* frames sent compressed, and raw */
	int64_t frames_idle;   /* of the raw ones, AUTO's untried: the link kept up, or
	                          drained faster than the compressor */
	int64_t pack_ns;       /* thread CPU time spent compressing */
	int64_t unpacked;      /* bytes zframe_unpack produced */
	int64_t unpack_ns;     /* and the CPU time it took */
};

struct zframe;

/* A codec for one connection; NULL when out of memory. The caller owns it
 * (zframe_free; NULL is harmless). */
struct zframe *zframe_new(enum zframe_mode mode);
void zframe_free(struct zframe *z);

/* Compress in (n bytes, 1 .. PEER_MAX_FRAME). 1: send *out (*outlen bytes, in z's
 * buffer, valid until the next zframe_pack) compressed; 0: send in raw (it did not
 * get smaller, was too small to try, or AUTO skipped it). */
int zframe_pack(struct zframe *z, const void *in, size_t n, const void **out, size_t *outlen);
/* Tell AUTO how the link does, before a chunk: queued bytes wait in the socket
 * (-1: unknown), acked bytes the peer has acknowledged so far (-1: unknown), at
 * monotonic now_ns. A link that keeps up (less than ZFRAME_LINK_BEHIND queued)
 * makes the next chunks go raw untried; so does a link that has drained (over
 * 20 ms) faster than the compressor compresses. ON ignores it. */
#define ZFRAME_LINK_BEHIND (256 * 1024)
void zframe_link_sample(struct zframe *z, int64_t queued, int64_t acked, int64_t now_ns);
/* Decompress one frame's payload (n bytes) holding at most cap bytes (cap at most
 * PEER_MAX_FRAME) into z's output buffer: *out, *outlen, valid until the next
 * zframe_unpack. -EPROTO for a payload that is not one zstd frame with a declared
 * size of 1 .. cap bytes that it decompresses to, -EMSGSIZE when it declares more
 * than cap, -ENOMEM. */
int zframe_unpack(struct zframe *z, const void *in, size_t n, size_t cap,
		  const void **out, size_t *outlen);
/* What z did so far. */
void zframe_stats(const struct zframe *z, struct zframe_stats *st);
/* "zstd" for a codec name this build can decode, else NULL. */
const char *zframe_codec_known(const char *name);

#endif
