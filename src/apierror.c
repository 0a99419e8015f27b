/* apierror.c: the one table of API errors and the one helper that builds every
 * error reply (see apierror.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apierror.h"

/* Messages longer than this are cut: they are sentences for a person, and an
 * error built from hostile input must not grow the reply without bound. */
#define API_MSG_MAX 512
/* A field's name comes from the request too (an unknown key): it is cut here. */
#define API_FIELD_MAX 64

struct api_err_info {
	int status;
	const char *code;
};

static const struct api_err_info api_errs[AE__COUNT] = {
	[AE_BAD_JSON]          = { 400, "invalid_json" },
	[AE_BAD_TYPE]          = { 400, "invalid_type" },
	[AE_MISSING_FIELD]     = { 400, "missing_field" },
	[AE_UNKNOWN_FIELD]     = { 400, "unknown_field" },
	[AE_BAD_VALUE]         = { 422, "invalid_value" },
	[AE_BAD_PID]           = { 422, "invalid_pid" },
	[AE_KEY_REUSED]        = { 422, "idempotency_key_reused" },
	[AE_BAD_QUERY]         = { 400, "invalid_query" },
	[AE_UNAUTHORIZED]      = { 401, "unauthorized" },
	[AE_FORBIDDEN]         = { 403, "forbidden" },
	[AE_NOT_FOUND]         = { 404, "not_found" },
	[AE_METHOD]            = { 405, "method_not_allowed" },
	[AE_CONFLICT]          = { 409, "conflict" },
	[AE_TOO_LARGE]         = { 413, "body_too_large" },
	[AE_URI_TOO_LONG]      = { 414, "uri_too_long" },
	[AE_UNSUPPORTED_MEDIA] = { 415, "unsupported_media_type" },
	[AE_HEADERS_TOO_LARGE] = { 431, "headers_too_large" },
	[AE_INTERNAL]          = { 500, "internal" },
	[AE_UNAVAILABLE]       = { 503, "unavailable" },
};

/* An out-of-range value is a bug in the caller; answering "internal" keeps the
 * reply well-formed instead of reading past the table. */
static const struct api_err_info *api_err_info(enum api_err e)
{
	if ((unsigned)e >= AE__COUNT || api_errs[e].code == NULL)
		return &api_errs[AE_INTERNAL];
	return &api_errs[e];
}

int api_err_status(enum api_err e)
{
	return api_err_info(e)->status;
}

const char *api_err_code(enum api_err e)
{
	return api_err_info(e)->code;
}

/* vsnprintf cuts by bytes, which can split a UTF-8 sequence at the end; drop a
 * trailing incomplete sequence so the text stays valid for jansson. */
static void utf8_trim_tail(char *s, size_t len)
{
	size_t i = len, need;
	unsigned char c;

	/* A sequence is at most 4 bytes, so its lead byte is within the last 4. */
	while (i > 0 && len - i < 4) {
		c = (unsigned char)s[i - 1];
		if ((c & 0xC0) != 0x80)
			break;
		i--;
	}
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0x80)
		return;
	if ((c & 0xE0) == 0xC0)
		need = 2;
	else if ((c & 0xF0) == 0xE0)
		need = 3;
	else if ((c & 0xF8) == 0xF0)
		need = 4;
	else
		return;   /* not a lead byte: json_text() deals with it */
	if (len - (i - 1) < need)
		s[i - 1] = '\0';
}

/* A JSON string for text that may not be valid UTF-8 (a field name or message
 * built from request bytes): jansson refuses such text, so fall back to a copy
 * with every non-ASCII byte replaced. Returns a new reference or NULL. */
static json_t *json_text(const char *s)
{
	char buf[API_MSG_MAX];
	json_t *j;
	size_t i;

	j = json_string(s);
	if (j != NULL)
		return j;
	for (i = 0; s[i] != '\0' && i < sizeof(buf) - 1; i++)
		buf[i] = ((unsigned char)s[i] < 0x80) ? s[i] : '?';
	buf[i] = '\0';
	return json_string(buf);
}

void api_error(struct http_reply *reply, enum api_err e, const char *field, const char *fmt, ...)
{
	const struct api_err_info *info = api_err_info(e);
	char msg[API_MSG_MAX], fieldbuf[API_FIELD_MAX + 1];
	json_t *err = NULL, *body = NULL;
	va_list ap;
	int n;

	if (reply == NULL)
		return;

	msg[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		n = vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (n < 0)
			msg[0] = '\0';
		else if ((size_t)n >= sizeof(msg))
			utf8_trim_tail(msg, strlen(msg));
	}
	if (field != NULL && strlen(field) > API_FIELD_MAX) {
		memcpy(fieldbuf, field, API_FIELD_MAX);
		fieldbuf[API_FIELD_MAX] = '\0';
		utf8_trim_tail(fieldbuf, API_FIELD_MAX);
		field = fieldbuf;
	}
	/* A person reads the message: never leave it empty. */
	if (msg[0] == '\0')
		snprintf(msg, sizeof(msg), "%s", info->code);

	/* The error replaces whatever the handler had prepared, including a file or
	 * a redirect, so the client sees exactly this error. */
	json_decref(reply->body);
	reply->body = NULL;
	reply->file[0] = '\0';
	reply->location[0] = '\0';
	reply->content_type = NULL;
	free(reply->text);
	reply->text = NULL;
	reply->status = info->status;

	err = json_object();
	body = json_object();
	if (err == NULL || body == NULL)
		goto out;
	if (json_object_set_new(err, "code", json_string(info->code)) < 0 ||
	    json_object_set_new(err, "message", json_text(msg)) < 0 ||
	    json_object_set_new(err, "field", field ? json_text(field) : json_null()) < 0)
		goto out;
	if (json_object_set(body, "error", err) < 0)
		goto out;
	reply->body = body;
	body = NULL;
out:
	/* On allocation failure the status alone still tells the client what went
	 * wrong; the transport sends it with an empty body. */
	json_decref(err);
	json_decref(body);
}
