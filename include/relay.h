/* relay.h: CRIU's page stream over a sealed peer connection. CRIU talks to a local
 * socket (one end of a socketpair); a relay thread moves its bytes both ways
 * between that socket and the peer connection, as PEER_FT_STREAM frames, which the
 * connection seals (peer.h): what CRIU at the other end receives was sent by the
 * other hauld, unchanged and in order, or the stream fails.
 *
 * A stream ends in both directions with PEER_FT_STREAM_END. Each side sends its
 * end when its CRIU closes the local socket, or when the other side's end came
 * (then its CRIU's socket is shut for writing: it sees the end of the stream).
 * So the stream is over once the page server (or the lazy-pages daemon) has
 * gone, whether or not the CRIU that sends has closed its socket yet, and the
 * connection is then in step for the frames that follow (the image files). */
#ifndef HAULD_RELAY_H
#define HAULD_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "peer.h"

struct relay;

/* A local socket for CRIU (*criu_fd: pass it to CRIU, then close it here) and a
 * relay of it over c, which the relay uses alone until relay_finish. With
 * start false the relay waits for relay_go before it moves anything (c is still
 * the caller's until then). */
int relay_open(struct peer_conn *c, bool start, int *criu_fd, struct relay **out);
/* Let a relay opened with start false move bytes from now on. */
int relay_go(struct relay *r);
/* Wait until the stream has ended both ways (or timeout_ms, or an error), stop the
 * relay and free it: 0, -ETIMEDOUT, or the stream's error (-EBADMSG for a frame
 * that did not open here, -EREMOTEIO when the other side gave up); why (may be
 * NULL) gets a sentence. A side that gives up tells the other why and ends the
 * connection. c is the caller's again. NULL is harmless (0). */
int relay_finish(struct relay *r, int timeout_ms, char *why, size_t whylen);
/* Bytes of CRIU's stream that went out, and that came in. */
void relay_counts(const struct relay *r, long long *out, long long *in);

#endif
