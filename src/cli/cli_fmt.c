/* cli_fmt.c: figures, times, JSON paths and tables for haul's output (see cli_fmt.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_fmt.h"

void fmt_bytes(char *out, size_t len, int64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, len, "%lld B", (long long)bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
}

void fmt_ms(char *out, size_t len, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 1000)
		snprintf(out, len, "%lld ms", (long long)ms);
	else if (ms < 60000)
		snprintf(out, len, "%.2f s", (double)ms / 1000);
	else if (ms < 3600000)
		snprintf(out, len, "%lld min %02lld s", (long long)(ms / 60000),
			 (long long)(ms / 1000 % 60));
	else
		snprintf(out, len, "%lld h %02lld min", (long long)(ms / 3600000),
			 (long long)(ms / 60000 % 60));
}

void fmt_age(char *out, size_t len, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(out, len, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(out, len, "%lldm", (long long)(secs / 60));
	else if (secs < 86400)
		snprintf(out, len, "%lldh", (long long)(secs / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(secs / 86400));
}

int ts_parse_ms(const char *ts, int64_t *ms)
{
	struct tm tm;
	int frac = 0, n = 0, digits;
	const char *p;
	time_t t;

	if (!ts)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
		return -1;
	p = ts + n;
	if (*p == '.') {
		for (digits = 0, p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits < 3)
				frac = frac * 10 + (*p - '0');
		}
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(p, "Z") != 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms = (int64_t)t * 1000 + frac;
	return 0;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

json_t *jpath(json_t *o, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (o && path[0]) {
		if (!json_is_object(o))
			return NULL;
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path += n + (dot ? 1 : 0);
	}
	return o;
}

const char *jstr(json_t *o, const char *path, const char *dflt)
{
	json_t *v = jpath(o, path);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

int jint(json_t *o, const char *path, int64_t *out)
{
	json_t *v = jpath(o, path);

	if (!json_is_integer(v))
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

void fmt_safe(char *out, size_t len, const char *s)
{
	size_t i;

	if (len == 0)
		return;
	for (i = 0; s && s[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		/* UTF-8 passes; control bytes (ESC, CR, ...) do not. */
		out[i] = (c >= 0x20 && c != 0x7f) ? (char)c : '?';
	}
	out[i] = '\0';
}

void fmt_kv(FILE *f, const char *key, const char *fmt, ...)
{
	char raw[1200], safe[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	fmt_safe(safe, sizeof(safe), raw);
	fprintf(f, "%-13s%s\n", key, safe);
}

void fmt_write_text(FILE *f, const char *text)
{
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char)*p;

		fputc(c >= 0x20 || c == '\n' || c == '\t' ? (c == 0x7f ? '?' : c) : '?', f);
	}
}

int table_init(struct table *t, size_t ncols, const char *const *heading)
{
	memset(t, 0, sizeof(*t));
	if (ncols == 0 || ncols > TABLE_COLS)
		return -1;
	t->ncols = ncols;
	return table_add(t, heading);
}

/* The width of s on a terminal, counting a UTF-8 sequence as one column. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	}
	return w;
}

int table_add(struct table *t, const char *const *cells)
{
	char **tmp, buf[1024];
	size_t i, cap;

	if (t->rows == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		tmp = realloc(t->cells, cap * t->ncols * sizeof(*tmp));
		if (!tmp)
			return -1;
		t->cells = tmp;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		char **slot = &t->cells[t->rows * t->ncols + i];

		fmt_safe(buf, sizeof(buf), cells[i] ? cells[i] : "");
		*slot = strdup(buf);
		if (!*slot) {
			while (i-- > 0)
				free(t->cells[t->rows * t->ncols + i]);
			return -1;
		}
		if (text_width(buf) > t->width[i])
			t->width[i] = text_width(buf);
	}
	t->rows++;
	return 0;
}

void table_print(const struct table *t, FILE *f)
{
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * t->ncols + i];

			if (i + 1 == t->ncols) {
				fprintf(f, "%s\n", cell);
				break;
			}
			fprintf(f, "%s%*s  ", cell, (int)(t->width[i] - text_width(cell)), "");
		}
	}
}

void table_release(struct table *t)
{
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
