/* main.c: hauld's command line, start-up and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "config.h"
#include "criu.h"
#include "ctr.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "sdnotify.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define SECRET_MIN   16
#define SECRET_MAX   4096

/* A secret (peer secret, API token, webhook key, TLS key) is for this daemon
 * alone: a file others may read or write, or that another user owns, is refused
 * (as ssh refuses such a private key), since whoever holds it can migrate, or
 * restore, any process as root. */
static void private_file(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		fatalx("%s is not a regular file", path);
	if (st->st_uid != geteuid())
		fatalx("%s belongs to uid %u, not to this daemon's (%u): chown it", path,
		       (unsigned)st->st_uid, (unsigned)geteuid());
	if (st->st_mode & 077)
		fatalx("%s can be read or written by others (mode %03o): chmod 600 %s", path,
		       (unsigned)(st->st_mode & 0777), path);
}

/* Read a secret, creating it (0600, 32 random bytes as hex) when missing; the
 * sentence logged then says who needs a copy. */
static int load_secret(const char *path, const char *who, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	int ret;

	if (stat(path, &st) < 0) {
		unsigned char raw[32];
		char hex[65];
		int fd;

		/* Only a missing file is created; st holds nothing after any other
		 * failure (a directory we may not search, say). */
		if (errno != ENOENT)
			return -errno;
		if (random_bytes(raw, sizeof(raw)) < 0)
			return -EIO;
		hex_encode(raw, sizeof(raw), hex);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		hex[64] = '\n';
		ret = write_full(fd, hex, sizeof(hex));
		close(fd);
		if (ret < 0)
			return ret;
		log_info("created %s: %s", path, who);
	} else {
		private_file(path, &st);
	}
	ret = file_read_all(path, SECRET_MAX, &buf, len);
	if (ret < 0)
		return ret;
	while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r' ||
			    buf[*len - 1] == ' '))
		buf[--*len] = '\0';
	if (*len < SECRET_MIN) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	return 0;
}

/* The API token: the file's first line, at least SECRET_MIN bytes. *out is heap. */
static int load_token(const char *path, char **out)
{
	struct stat st;
	size_t len;
	int ret;

	if (stat(path, &st) == 0)
		private_file(path, &st);
	ret = file_read_all(path, SECRET_MAX, out, &len);
	if (ret < 0)
		return ret;
	(*out)[strcspn(*out, "\r\n")] = '\0';
	if (strlen(*out) < SECRET_MIN) {
		free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

/* The API server, once it runs: store events wake its streams. The lock keeps it
 * from going while an event is being told. */
static struct http_server *notify_srv;
static pthread_rwlock_t notify_lock = PTHREAD_RWLOCK_INITIALIZER;

static void on_event(void *ctx, int64_t id)
{
	pthread_rwlock_rdlock(&notify_lock);
	http_notify(notify_srv);
	pthread_rwlock_unlock(&notify_lock);
}

static void notify_set(struct http_server *srv)
{
	pthread_rwlock_wrlock(&notify_lock);
	notify_srv = srv;
	pthread_rwlock_unlock(&notify_lock);
}

/* Where the container engines are; libcurl set up before any thread. */
static void engines_setup(const struct config *c)
{
	static const char *const runcs[] = { "/usr/sbin/runc", "/usr/bin/runc",
					      "/usr/local/sbin/runc", "/usr/local/bin/runc" };
	struct ctr_config cc = { 0 };

	if (ctr_global_init() < 0)
		fatalx("cannot set up libcurl");
	if (c->docker_host[0])
		ctr_parse_host(c->docker_host, cc.docker_sock, sizeof(cc.docker_sock));
	if (c->podman_host[0])
		ctr_parse_host(c->podman_host, cc.podman_sock, sizeof(cc.podman_sock));
	snprintf(cc.runc_root, sizeof(cc.runc_root), "%s", c->runc_root);
	snprintf(cc.runc_bin, sizeof(cc.runc_bin), "%s", runcs[0]);
	for (size_t i = 0; i < sizeof(runcs) / sizeof(runcs[0]); i++) {
		if (access(runcs[i], X_OK) == 0) {
			snprintf(cc.runc_bin, sizeof(cc.runc_bin), "%s", runcs[i]);
			break;
		}
	}
	ctr_configure(&cc);
}

/* The dashboard's files when the operator did not say: PREFIX/share/hauld/www,
 * where `make install` puts them, or PREFIX/www, the repository's own beside
 * build/; PREFIX is the directory above the binary's. */
static const char *find_www(char *buf, size_t len)
{
	static const char *const rel[] = { "share/hauld/www", "www" };
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	struct stat st;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	for (int up = 0; up < 2 && (slash = strrchr(exe, '/')); up++)
		*slash = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
		if ((size_t)snprintf(buf, len, "%s/%s", exe, rel[i]) >= len)
			continue;
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
			return buf;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct engine_config ecfg = { 0 };
	struct criu_info ci;
	struct store *st = NULL;
	struct engine *eng = NULL;
	struct http_server *http = NULL;
	struct api api = { 0 };
	char secret_path[PATH_MAX], db_path[PATH_MAX], www[PATH_MAX], host[256];
	char self_exe[PATH_MAX];
	char *secret = NULL, *token = NULL, *tls_cert = NULL, *tls_key = NULL, *wh_key = NULL;
	char wh_path[PATH_MAX], err[1024], status[640], peer_at[300];
	const char *secret_file, *wh_key_file;
	size_t wh_key_len = 0;
	struct webhook_config whcfg = { 0 };
	struct webhooks *wh = NULL;
	struct http_tls tls = { 0 };
	size_t secret_len = 0;
	sigset_t sigs;
	int ret, port, peer_port = 0, api_port = 0, sig;
	bool freed;

	/* In lazy mode CRIU runs hauld itself as its action script. */
	if (getenv("CRTOOLS_SCRIPT_ACTION") && getenv("HAULD_HOOK"))
		return criu_hook_main();
	if (config_init(&cfg) < 0) {
		fprintf(stderr, "hauld: out of memory\n");
		return 2;
	}
	ret = config_parse_args(&cfg, argc, argv, err, sizeof(err));
	if (ret != CONFIG_RUN) {
		if (ret == CONFIG_HELP)
			config_usage(stdout);
		else if (ret == CONFIG_VERSION)
			printf("hauld %s\n", HAULD_VERSION);
		else
			fprintf(stderr, "hauld: %s\n", err);
		config_release(&cfg);
		return ret < 0 ? 2 : 0;
	}
	/* Whatever the daemon and its CRIU write (the database, images holding a
	 * process's memory, logs) is for root alone. CRIU gives a restored process its
	 * own umask back from its images. */
	umask(077);
	log_init(cfg.verbose);
	/* Before any thread: it edits the environment. */
	if (sdnotify_init() < 0)
		log_warnx("NOTIFY_SOCKET is not a unix socket's address; the service manager "
			  "will not hear that hauld is ready");
	if (cfg.config_file)
		log_info("settings from %s", cfg.config_file);
	metrics_init();
	json_object_seed(0);
	signal(SIGPIPE, SIG_IGN);
	/* Every thread inherits this mask; main alone waits for the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ret = mkdir_p(cfg.data_dir, 0700);
	if (ret == 0) {
		struct stat dst;

		/* It holds the secrets, the database and every job's images (a process's
		 * memory): others must not be able to look in, let alone write. One of
		 * ours that is open to them is closed; another user's is refused. */
		if (stat(cfg.data_dir, &dst) < 0 || !S_ISDIR(dst.st_mode))
			fatalx("the data directory %s is not a directory", cfg.data_dir);
		if (dst.st_uid != geteuid())
			fatalx("the data directory %s belongs to uid %u, not to this daemon's (%u)",
			       cfg.data_dir, (unsigned)dst.st_uid, (unsigned)geteuid());
		if ((dst.st_mode & 077) && chmod(cfg.data_dir, 0700) == 0)
			log_warnx("the data directory %s was open to others (mode %03o): it is "
				  "0700 now", cfg.data_dir, (unsigned)(dst.st_mode & 0777));
	}
	if (ret < 0)
		fatalx("cannot create data dir %s: %s", cfg.data_dir, strerror(-ret));
	snprintf(secret_path, sizeof(secret_path), "%s/peer.secret", cfg.data_dir);
	secret_file = cfg.secret_file ? cfg.secret_file : secret_path;
	/* Whoever reaches the API can migrate any process as root: anything but loopback
	 * needs a token. */
	hostport_parse(cfg.listen, host, sizeof(host), &port, 1);
	if (!api_hosts_for(&api, host) && !cfg.api_token_file)
		fatalx("the API would listen on %s, which other hosts can reach: give it a token "
		       "with --api-token-file FILE (or listen on 127.0.0.1)", cfg.listen);
	if (cfg.api_token_file && (ret = load_token(cfg.api_token_file, &token)) < 0)
		fatalx("cannot use the token file %s: %s (it needs a line of at least %d bytes)",
		       cfg.api_token_file, strerror(-ret), SECRET_MIN);
	if (cfg.tls_cert) {
		struct stat kst;
		size_t n;

		if (stat(cfg.tls_key, &kst) == 0)
			private_file(cfg.tls_key, &kst);
		if (file_read_all(cfg.tls_cert, 1 << 20, &tls_cert, &n) < 0 ||
		    file_read_all(cfg.tls_key, 1 << 20, &tls_key, &n) < 0)
			fatalx("cannot read --tls-cert %s or --tls-key %s", cfg.tls_cert,
			       cfg.tls_key);
	}
	ret = load_secret(secret_file, "the peer secret; copy it to the hosts this one "
			  "migrates with", &secret, &secret_len);
	if (ret < 0)
		fatalx("cannot use the secret file %s: %s (it needs at least %d bytes)",
		       secret_file, strerror(-ret), SECRET_MIN);

	/* A fresh id for this run: a peer greeting that carries it is ourselves. */
	{
		unsigned char raw[PEER_INSTANCE_LEN / 2];
		char hex[PEER_INSTANCE_LEN + 1];

		if (random_bytes(raw, sizeof(raw)) < 0)
			fatalx("no random bytes for the instance id");
		hex_encode(raw, sizeof(raw), hex);
		peer_instance_set(hex);
	}
	engines_setup(&cfg);
	criu_log_level_set((int)cfg.criu_log_level);
	criu_detect(&ci);
	if (ci.check_ok)
		log_info("criu %s at %s: check passed; memory tracking %s, lazy pages %s",
			 ci.version_text, ci.path, ci.mem_track ? "yes" : "no",
			 ci.lazy_pages ? "yes" : "no");
	else
		log_warnx("criu unusable (%s): migrations will fail until it is fixed",
			  ci.check_error);

	snprintf(wh_path, sizeof(wh_path), "%s/webhook.key", cfg.data_dir);
	wh_key_file = cfg.webhook_key_file ? cfg.webhook_key_file : wh_path;
	ret = load_secret(wh_key_file, "the key that signs webhook requests; give "
			  "it to their receivers", &wh_key, &wh_key_len);
	if (ret < 0)
		fatalx("cannot use the webhook key file %s: %s (it needs at least %d bytes)",
		       wh_key_file, strerror(-ret), SECRET_MIN);

	snprintf(db_path, sizeof(db_path), "%s/hauld.db", cfg.data_dir);
	ret = store_open(db_path, &st);
	if (ret < 0)
		fatalx("cannot open the store %s: %s", db_path, strerror(-ret));
	/* Streams of the API wait for events: each new one wakes them. */
	store_set_event_hook(st, on_event, NULL);
	whcfg.key = wh_key;
	whcfg.key_len = wh_key_len;
	whcfg.max_s = (int)cfg.webhook_retry_s;
	ret = webhooks_start(st, &whcfg, &wh);
	if (ret < 0)
		fatalx("cannot start the webhook deliveries: %s", strerror(-ret));

	ecfg.data_dir = cfg.data_dir;
	ecfg.workers = (int)cfg.workers;
	ecfg.peer_timeout_ms = (int)cfg.peer_timeout_s * 1000;
	peer_dead_set((int)cfg.peer_timeout_s);
	ecfg.retain_jobs = (int)cfg.retain_jobs;
	ecfg.secret = secret;
	ecfg.secret_len = secret_len;
	ecfg.peer_listen = cfg.peer_listen;
	ecfg.criu = &ci;
	ecfg.webhooks = wh;
	{
		ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

		self_exe[n > 0 ? n : 0] = '\0';
		ecfg.self_exe = self_exe;
	}
	if (engine_new(&ecfg, st, &eng) < 0)
		fatalx("cannot create the engine");
	ret = engine_start(eng, &peer_port);
	if (ret < 0)
		fatalx("cannot listen for peers on %s: %s", cfg.peer_listen, strerror(-ret));
	hostport_parse(cfg.peer_listen, host, sizeof(host), &port, 1);
	log_info("listening: peer=%s:%d", host, peer_port);
	snprintf(peer_at, sizeof(peer_at), "%s:%d", host, peer_port);

	api.store = st;
	api.engine = eng;
	api.data_dir = cfg.data_dir;
	api.www_dir = cfg.www_dir ? cfg.www_dir : find_www(www, sizeof(www));
	api.token = token;
	api.tls = tls_cert != NULL;
	hostport_parse(cfg.listen, host, sizeof(host), &port, 1);
	tls.cert_pem = tls_cert;
	tls.key_pem = tls_key;
	http = http_start(host, port, tls_cert ? &tls : NULL, api_handle, &api, &api_port);
	if (!http)
		fatalx("cannot listen for the API on %s", cfg.listen);
	notify_set(http);
	log_info("listening: api=%s:%d%s%s", host, api_port, tls_cert ? " (https)" : "",
		 token ? " (token)" : "");
	snprintf(status, sizeof(status), "READY=1\nSTATUS=API on %s:%d, peers on %s",
		 host, api_port, peer_at);
	sdnotify(status);

	do {
		ret = sigwait(&sigs, &sig);
	} while (ret != 0);
	log_info("signal %d: shutting down", sig);
	sdnotify("STOPPING=1");
	notify_set(NULL);
	http_stop(http);
	freed = engine_free(eng);
	webhooks_stop(wh);
	/* A peer thread still at work (a restore) uses the store: leave both to the
	 * exit rather than free them under it. What it did so far is in the store. */
	if (freed)
		store_free(st);
	free(secret);
	free(wh_key);
	free(token);
	free(tls_cert);
	free(tls_key);
	config_release(&cfg);
	log_info("stopped");
	return 0;
}
