/* peerctl.c: a scriptable peer for the tests, speaking hauld's peer protocol with
 * hauld's own code (peer.c): it plays a source that does what a real one would not
 * (commits before the restore, stops halfway, sends what it should not), so that a
 * test can check what the destination makes of it.
 *
 *   peerctl HOST:PORT SECRET-FILE < SCRIPT
 *
 * SCRIPT has one command a line:
 *   connect CHANNEL      open and authenticate a connection (control, memory); it
 *                        becomes the current one, which the commands below use
 *   send JSON            send one JSON frame
 *   senddir DIR          send the files of DIR as the protocol's file transfer
 *   recv                 read one JSON frame and print it on a line
 *   sleep MS             wait
 *   use N                make connection N (0: the first opened) the current one
 *   close                close the current connection
 * Exit status 0 when every command worked, 1 at the first that did not (said on
 * stderr). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "peer.h"
#include "util.h"

#define MAX_CONNS 8

int main(int argc, char **argv)
{
	struct peer_conn conns[MAX_CONNS];
	char *secret = NULL, line[65536];
	size_t secret_len = 0;
	int n = 0, lineno = 0, cur = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: peerctl HOST:PORT SECRET-FILE < SCRIPT\n");
		return 2;
	}
	if (file_read_all(argv[2], 4096, &secret, &secret_len) < 0) {
		fprintf(stderr, "peerctl: cannot read %s\n", argv[2]);
		return 2;
	}
	while (secret_len > 0 && (secret[secret_len - 1] == '\n' || secret[secret_len - 1] == ' '))
		secret[--secret_len] = '\0';
	while (fgets(line, sizeof(line), stdin)) {
		char *arg;
		int ret = 0;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		if (strcmp(line, "connect") == 0 && arg && n < MAX_CONNS) {
			int fd = peer_connect(argv[1], 5000);

			if (fd < 0) {
				ret = fd;
			} else {
				peer_conn_init(&conns[n], fd, 30000);
				ret = peer_auth_client(&conns[n], secret, secret_len, arg);
				cur = n++;
			}
		} else if (cur < 0) {
			fprintf(stderr, "peerctl: line %d: no connection\n", lineno);
			return 1;
		} else if (strcmp(line, "send") == 0 && arg) {
			json_t *m = json_loads(arg, 0, NULL);

			ret = m ? peer_send_json(&conns[cur], m) : -EINVAL;
			json_decref(m);
		} else if (strcmp(line, "senddir") == 0 && arg) {
			int dfd = open(arg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			ret = dfd < 0 ? -errno : peer_send_dir(&conns[cur], dfd, NULL, NULL);
			if (dfd >= 0)
				close(dfd);
		} else if (strcmp(line, "recv") == 0) {
			json_t *m = NULL;
			char *text;

			ret = peer_recv_json(&conns[cur], &m);
			if (ret == 0) {
				text = json_dumps(m, JSON_COMPACT);
				printf("%s\n", text ? text : "null");
				fflush(stdout);
				free(text);
			}
			json_decref(m);
		} else if (strcmp(line, "use") == 0 && arg && atoi(arg) >= 0 && atoi(arg) < n) {
			cur = atoi(arg);
		} else if (strcmp(line, "sleep") == 0 && arg) {
			usleep((useconds_t)atoi(arg) * 1000);
		} else if (strcmp(line, "close") == 0) {
			peer_conn_release(&conns[cur]);
			conns[cur].fd = -1;
		} else {
			fprintf(stderr, "peerctl: line %d: unknown command %s\n", lineno, line);
			return 1;
		}
		if (ret < 0) {
			fprintf(stderr, "peerctl: line %d (%s): %s\n", lineno, line, strerror(-ret));
			return 1;
		}
	}
	for (int i = 0; i < n; i++)
		if (conns[i].fd >= 0)
			peer_conn_release(&conns[i]);
	free(secret);
	return 0;
}
