/* log.h: the one logging API. Lines go to stderr as "LEVEL message".
 * log_warn appends ": strerror(errno)"; log_warnx does not. fatal/fatalx exit(1)
 * and are for start-up only. Thread-safe. */
#ifndef HAULD_LOG_H
#define HAULD_LOG_H

void log_init(int verbose);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
