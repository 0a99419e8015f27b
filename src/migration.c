/* migration.c: the table of migration types (include/migration.h). */
#include <pthread.h>
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
