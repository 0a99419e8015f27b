/* config.h: hauld's settings, from its command line and its configuration file.
 *
 * One table in config.c describes every option once: its long name, the kind and
 * bounds of its value, its default and its help. The command line (getopt_long),
 * the file of --config and --help are all driven by that table, so an option added
 * there is settable in the file and shown by --help from the start.
 *
 * The file, in full:
 *   - one setting a line, "KEY = VALUE", KEY the long name of an option ("workers",
 *     "docker-host"; not "config", "help" or "version"); spaces and tabs around KEY,
 *     "=" and VALUE are ignored;
 *   - a line whose first character other than a blank is '#' is a comment, and
 *     blank lines are ignored. A '#' anywhere else belongs to the value, so that
 *     no path is ever cut short by what looked like a comment;
 *   - VALUE may be enclosed in one pair of double or single quotes, which are
 *     removed (nothing is escaped inside them): `docker-host = ""` and
 *     `docker-host =` both leave Docker out;
 *   - a flag without an argument on the command line (verbose) takes true or
 *     false (also yes/no, on/off, 1/0);
 *   - a relative path is taken from the working directory, not from the file's;
 *   - a key may be set once; an unknown key, a line without '=', a bad value, a
 *     line of more than CONFIG_LINE_MAX bytes, a file of more than CONFIG_FILE_MAX
 *     bytes and a file that others may write are errors that name the file and the
 *     line. Options on the command line override the file.
 *
 * Unless said otherwise, functions return 0 on success and a negative errno on
 * failure, with a sentence for a person in err (at most errlen bytes). */
#ifndef HAULD_CONFIG_H
#define HAULD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_LINE_MAX  4096          /* bytes of one line of the file, without '\n' */
#define CONFIG_FILE_MAX  (64 * 1024)   /* bytes of the whole file */
#define CONFIG_PATH_MAX  1024          /* bytes of a path value, without the NUL */

/* Every string is the config's own (heap), or NULL when the option has no value
 * and no default (secret_file: then DATA_DIR/peer.secret). */
struct config {
	char *config_file;
	char *listen, *peer_listen, *data_dir, *secret_file, *www_dir;
	char *docker_host, *podman_host, *runc_root;
	char *api_token_file, *tls_cert, *tls_key, *webhook_key_file;
	long workers, criu_log_level, retain_jobs, webhook_retry_s, peer_timeout_s;
	bool verbose;
};

/* What config_parse_args found the daemon should do. */
enum config_action {
	CONFIG_RUN = 0,
	CONFIG_HELP,       /* print config_usage(stdout) and exit 0 */
	CONFIG_VERSION,    /* print the version and exit 0 */
};

/* Every option at its default. -ENOMEM when a copy cannot be made. */
int config_init(struct config *c);
/* Free the strings; c may then be given to config_init again. NULL is harmless. */
void config_release(struct config *c);

/* Set option KEY (its long name) from its text VALUE, checked against the
 * option's kind and bounds: the one parser of the command line and the file.
 * -ENOENT when KEY is no option that takes a setting, -EINVAL for a bad value;
 * err says why without naming where the value came from. */
int config_set(struct config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/* Read the file at path into c. err starts with "PATH:LINE: " when a line is at
 * fault, "PATH: " otherwise. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* What only the whole tells: --tls-cert needs --tls-key and the other way round. */
int config_check(const struct config *c, char *err, size_t errlen);

/* The command line, then the file of --config under it: defaults, the file, then
 * each option given, so the command line wins. Returns a config_action, or a
 * negative errno with err filled. Resets getopt (optind) itself. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* --help, from the table. */
void config_usage(FILE *f);

/* The long names of the options a file may set, in the table's order, one a call
 * for i = 0, 1, ... until NULL. */
const char *config_key(size_t i);

#endif
