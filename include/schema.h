/* schema.h: the SQL migrations from db/, embedded by scripts/embed-schema.sh.
 * Terminated by an entry with version 0. */
#ifndef HAULD_SCHEMA_H
#define HAULD_SCHEMA_H

#include <stddef.h>

struct schema_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct schema_migration schema_migrations[];

#endif
