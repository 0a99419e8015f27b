/* log.c: the one logging API (see log.h). Each line is formatted in full on the
 * caller's stack and written with one locked fputs, so lines from different
 * threads never interleave. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Long enough for any message we log; longer ones are cut, never overflowed. */
#define LOG_LINE_MAX 2048

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_verbose;

void log_init(int verbose)
{
	pthread_mutex_lock(&log_mu);
	log_verbose = verbose;
	pthread_mutex_unlock(&log_mu);
}

/* Format "YYYY-mm-ddTHH:MM:SS.mmmZ" for now, UTC. log.c does not use util.c so
 * that every module, util.c included, can log. */
static void log_stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Callers may log between a failure and reading errno, so errno survives. */
static void __attribute__((format(printf, 3, 0)))
log_vwrite(const char *level, int errnum, const char *fmt, va_list ap)
{
	char stamp[32], msg[LOG_LINE_MAX], errbuf[128], line[LOG_LINE_MAX + 256];
	int saved = errno;

	log_stamp(stamp, sizeof(stamp));
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (errnum)
		snprintf(line, sizeof(line), "%s %s %s: %s\n", stamp, level, msg,
			 strerror_r(errnum, errbuf, sizeof(errbuf)));
	else
		snprintf(line, sizeof(line), "%s %s %s\n", stamp, level, msg);

	pthread_mutex_lock(&log_mu);
	fputs(line, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_mu);
	errno = saved;
}

void log_debug(const char *fmt, ...)
{
	va_list ap;
	int verbose;

	pthread_mutex_lock(&log_mu);
	verbose = log_verbose;
	pthread_mutex_unlock(&log_mu);
	if (!verbose)
		return;
	va_start(ap, fmt);
	log_vwrite("DEBUG", 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("INFO", 0, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("WARN", errnum, fmt, ap);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("WARN", 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("FATAL", errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite("FATAL", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
