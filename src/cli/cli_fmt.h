/* cli_fmt.h: small pieces of haul's output: figures for people, reading the API's
 * JSON by path, times, and a table with aligned columns. Pure functions, no I/O
 * but the table's printing. */
#ifndef HAUL_CLI_FMT_H
#define HAUL_CLI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* "512 B", "64.0 MiB", "1.25 GiB". */
void fmt_bytes(char *out, size_t len, int64_t bytes);

/* "94 ms", "1.23 s", "2 min 05 s", "3 h 07 min". */
void fmt_ms(char *out, size_t len, int64_t ms);

/* "12s", "5m", "3h", "2d": an age for a table. */
void fmt_age(char *out, size_t len, int64_t secs);

/* RFC 3339 UTC as the API writes it ("2026-11-25T22:29:44.123Z", the fraction
 * optional) to milliseconds since the epoch. 0, or -1 when it is not such a time. */
int ts_parse_ms(const char *ts, int64_t *ms);

/* The milliseconds of the real-time clock. */
int64_t now_ms(void);

/* The value at a dotted path ("error.code", "stats.downtime_ms") of a JSON
 * object, borrowed; NULL when absent. */
json_t *jpath(json_t *o, const char *path);

/* The string at path, or dflt when absent, null or not a string. */
const char *jstr(json_t *o, const char *path, const char *dflt);

/* The integer at path into *out: 0, or -1 when absent, null or not an integer. */
int jint(json_t *o, const char *path, int64_t *out);

/* Copies s into out with every byte that is not printable ASCII shown as '?', so
 * that text from the network cannot move a terminal's cursor or colours. */
void fmt_safe(char *out, size_t len, const char *s);

/* "KEY          VALUE\n" on f, the formatted value made safe (fmt_safe) and cut
 * at 1 KiB: a line of haul's "key value" listings. */
void fmt_kv(FILE *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes text to f with control characters but tab and newline shown as '?'. */
void fmt_write_text(FILE *f, const char *text);

/* A table of text cells printed with aligned columns. */
#define TABLE_COLS 12
struct table {
	size_t ncols;
	char **cells;   /* rows * ncols, owned */
	size_t rows, cap;
	size_t width[TABLE_COLS];
};

/* 0, or -1 for more than TABLE_COLS columns. The heading is the first row. */
int table_init(struct table *t, size_t ncols, const char *const *heading);
/* Adds a row of ncols cells (copied, made safe). 0, or -1 when out of memory. */
int table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_release(struct table *t);

#endif
