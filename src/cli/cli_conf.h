/* cli_conf.h: where haul's settings come from. Each setting is taken from the
 * first of these that has it: a flag, the environment, the configuration file, the
 * default. Functions return 0, or -1 with a sentence in err (ERRLEN bytes) that
 * names the file, line or variable at fault. */
#ifndef HAUL_CLI_CONF_H
#define HAUL_CLI_CONF_H

#include <stddef.h>

#include "cli.h"

#define CONF_DEFAULT_API "http://127.0.0.1:8420"
#define CONF_SYSTEM_PATH "/etc/hauld/haul.conf"
#define CONF_FILE_MAX    (64 * 1024) /* a configuration file is a few lines */
#define CONF_TOKEN_MAX   4096        /* the longest token line read */
#define CONF_URL_MAX     2048

/* One source of settings; NULL is "not set here". token is the token itself
 * (only the environment has it: HAUL_TOKEN); token_file a file whose first line is
 * the token. Within one source token wins over token_file. */
struct conf_src {
	const char *api;
	const char *token;
	const char *token_file;
	const char *cacert;
};

/* A configuration file as read. Its relative paths are made relative to the
 * file's directory, and "~/" to home, when it is read; the strings are owned. */
struct conf {
	char *path;       /* the file read, or NULL when there was none */
	char *api;
	char *token_file;
	char *cacert;
};

/* Parses TEXT, "key = value" lines (keys api, token_file, cacert), blank lines
 * and comments from a '#' at the start of a line or after a blank. An unknown or
 * repeated key, or a line without '=', is an error naming the line. dir, when not
 * NULL, is where relative paths are taken from; home expands "~/". */
int conf_parse(struct conf *cf, const char *text, const char *dir, const char *home, char *err,
	       size_t errlen);

/* Reads the configuration file: explicit (HAUL_CONFIG) when not NULL, which must
 * then exist; otherwise the first that exists of XDG/haul/config (xdg is
 * XDG_CONFIG_HOME, else home/.config) and CONF_SYSTEM_PATH. No file at all is
 * not an error (cf->path stays NULL). */
int conf_load(struct conf *cf, const char *explicit, const char *home, const char *xdg,
	      char *err, size_t errlen);

void conf_release(struct conf *cf);

/* Fills c->api, c->token and c->cacert from the three sources in order of
 * precedence (any may be NULL). The api URL must be http:// or https:// with a
 * host; a trailing '/' is dropped. */
int conf_resolve(struct cli *c, const struct conf_src *flags, const struct conf_src *env,
		 const struct conf_src *file, char *err, size_t errlen);

/* The token in the first line of path (trailing blanks and CR dropped): 1 to
 * CONF_TOKEN_MAX printable ASCII characters without spaces. *out: you own it. */
int conf_read_token(const char *path, char **out, char *err, size_t errlen);

/* Checks an API base URL and returns it without its trailing '/' (you own it). */
int conf_check_url(const char *url, char **out, char *err, size_t errlen);

#endif
