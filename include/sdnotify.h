/* sdnotify.h: telling the service manager (systemd, Type=notify) how the daemon
 * is doing, with the datagram protocol of sd_notify(3) and without libsystemd.
 *
 * sdnotify_init reads $NOTIFY_SOCKET once and removes it from the environment,
 * so that no child (CRIU, runc, which would answer it itself) inherits it; call it
 * before any thread starts. Without the variable, or with an address that is not
 * a unix socket ("/path" or "@abstract"), sdnotify does nothing. */
#ifndef HAULD_SDNOTIFY_H
#define HAULD_SDNOTIFY_H

/* 1 when there is a socket to tell, 0 when there is none, -EINVAL when
 * $NOTIFY_SOCKET names nothing this can reach (too long, or not a unix socket). */
int sdnotify_init(void);

/* Send state ("READY=1", "STOPPING=1", "STATUS=...", several joined by '\n').
 * 0 when sent or when there is no socket; a negative errno when sending failed. */
int sdnotify(const char *state);

#endif
