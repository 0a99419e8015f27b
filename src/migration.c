/* migration.c: the table of migration types (include/migration.h). */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "migration.h"
#include "util.h"

static const struct mig_ops *const mig_types[] = {
	&mig_pid_ops, &mig_docker_ops, &mig_podman_ops, &mig_runc_ops,
};

const struct mig_ops *mig_ops_find(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(mig_types); i++)
		if (strcmp(mig_types[i]->type, type) == 0)
			return mig_types[i];
	return NULL;
}

static char type_names[128];
static pthread_once_t type_names_once = PTHREAD_ONCE_INIT;

static void type_names_make(void)
{
	size_t off = 0;

	for (size_t i = 0; i < ARRAY_SIZE(mig_types) && off < sizeof(type_names); i++)
		off += (size_t)snprintf(type_names + off, sizeof(type_names) - off, "%s\"%s\"",
					i ? ", " : "", mig_types[i]->type);
}

const char *mig_type_names(void)
{
	pthread_once(&type_names_once, type_names_make);
	return type_names;
}

json_t *mig_engines_health(void)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < ARRAY_SIZE(mig_types); i++) {
		json_t *h = mig_types[i]->health ? mig_types[i]->health() : NULL;

		if (h)
			json_object_set_new(o, mig_types[i]->type, h);
	}
	return o;
}

json_t *mig_engines_containers(size_t max)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < ARRAY_SIZE(mig_types); i++) {
		json_t *c = mig_types[i]->containers ? mig_types[i]->containers(max) : NULL;

		if (c)
			json_object_set_new(o, mig_types[i]->type, c);
	}
	return o;
}

/* Every port the tree listens on (or, UDP, is bound to) must be free here, or the
 * restore fails on it; checked before CRIU runs, to say which port and why. */
int mig_dst_ports_free(struct mig_dst *d)
{
	struct criu_inet_port ports[256];
	size_t n = 0;

	if (criu_inet_ports(d->images_fd, ports, ARRAY_SIZE(ports), &n) < 0)
		return 0;      /* CRIU reads the images itself and says what it finds */
	for (size_t i = 0; i < n; i++) {
		const struct criu_inet_port *p = &ports[i];
		const char *proto = p->type == SOCK_DGRAM ? "UDP" : "TCP";
		int ret = criu_inet_port_free(p);

		if (ret == -EADDRINUSE && d->same_netns) {
			snprintf(d->err, sizeof(d->err), "%s port %d (on %s) is taken at the "
				 "destination, because source and destination are one network "
				 "namespace: two daemons on one machine are one host to a program "
				 "that listens on a port (the frozen source still holds it). Run "
				 "each daemon in its own network namespace, or migrate to another "
				 "host", proto, p->port, p->addr);
			d->err_code = "port_in_use";
			return ret;
		}
		if (ret == -EADDRINUSE) {
			snprintf(d->err, sizeof(d->err), "%s port %d (on %s) is already taken at "
				 "the destination: stop what listens on it there, or migrate to a "
				 "host where it is free", proto, p->port, p->addr);
			d->err_code = "port_in_use";
			return ret;
		}
		if (ret == -EADDRNOTAVAIL) {
			snprintf(d->err, sizeof(d->err), "the process listens on %s %s port %d, "
				 "and the destination has no address %s: let the program listen on "
				 "all addresses (0.0.0.0 or ::), or give the destination that "
				 "address", p->addr, proto, p->port, p->addr);
			d->err_code = "address_unavailable";
			return ret;
		}
	}
	return 0;
}

