/* apierror.h: every API error, its HTTP status and its stable machine code, in one
 * table (apierror.c). Error bodies are {"error":{"code","message","field"}}. */
#ifndef HAULD_APIERROR_H
#define HAULD_APIERROR_H

#include "http.h"

enum api_err {
	AE_BAD_JSON,         /* 400 invalid_json: body is not valid JSON */
	AE_BAD_TYPE,         /* 400 invalid_type: a field has the wrong JSON type */
	AE_MISSING_FIELD,    /* 400 missing_field */
	AE_UNKNOWN_FIELD,    /* 400 unknown_field */
	AE_BAD_VALUE,        /* 422 invalid_value: right type, value not acceptable */
	AE_BAD_PID,          /* 422 invalid_pid: no such process, or one that must not move */
	AE_KEY_REUSED,       /* 422 idempotency_key_reused: the key went with another request */
	AE_BAD_QUERY,        /* 400 invalid_query */
	AE_UNAUTHORIZED,     /* 401 unauthorized: no or a wrong bearer token */
	AE_FORBIDDEN,        /* 403 forbidden: a cross-origin or foreign-Host request */
	AE_NOT_FOUND,        /* 404 not_found */
	AE_METHOD,           /* 405 method_not_allowed */
	AE_CONFLICT,         /* 409 conflict */
	AE_TOO_LARGE,        /* 413 body_too_large */
	AE_URI_TOO_LONG,     /* 414 uri_too_long: the request target is over HTTP_MAX_URL */
	AE_UNSUPPORTED_MEDIA,/* 415 unsupported_media_type */
	AE_HEADERS_TOO_LARGE,/* 431 headers_too_large: over HTTP_MAX_HEADERS */
	AE_INTERNAL,         /* 500 internal */
	AE_UNAVAILABLE,      /* 503 unavailable */
	AE__COUNT
};

int api_err_status(enum api_err e);
const char *api_err_code(enum api_err e);
/* Fill reply with the error: status from the table, body built here.
 * field may be NULL (then "field" is null in the body). */
void api_error(struct http_reply *reply, enum api_err e, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
