/* sdnotify.c: the sd_notify(3) datagram, sent to $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

static struct sockaddr_un notify_addr;
static socklen_t notify_len;   /* 0: nobody to tell */

int sdnotify_init(void)
{
	const char *v = getenv("NOTIFY_SOCKET");
	size_t n;

	notify_len = 0;
	if (!v || !v[0])
		goto none;
	n = strlen(v);
	if ((v[0] != '/' && v[0] != '@') || n >= sizeof(notify_addr.sun_path)) {
		unsetenv("NOTIFY_SOCKET");
		return -EINVAL;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, v, n);
	/* An abstract address starts with a NUL and is as long as its name. */
	if (v[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
				 (v[0] == '@' ? 0 : 1));
	unsetenv("NOTIFY_SOCKET");
	return 1;
none:
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

int sdnotify(const char *state)
{
	int fd, ret = 0;

	if (notify_len == 0 || !state)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&notify_addr,
		   notify_len) < 0)
		ret = -errno;
	close(fd);
	return ret;
}
