/* main.c: hauld's command line, start-up and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "criu.h"
#include "ctr.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#define SECRET_MIN   16
#define SECRET_MAX   4096

struct config {
	const char *listen, *peer_listen, *data_dir, *secret_file, *www_dir;
	const char *docker_host, *podman_host, *runc_root;
	const char *api_token_file, *tls_cert, *tls_key, *webhook_key_file;
	long workers, criu_log_level, retain_jobs, webhook_retry_s;
	int verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hauld [options]\n"
		"Live-migrate Linux process trees between hosts with CRIU.\n\n"
		"  --listen ADDR:PORT        REST API (default 127.0.0.1:8420; port 0 picks one)\n"
		"  --peer-listen ADDR:PORT   peer protocol (default 0.0.0.0:8421; port 0 picks one)\n"
		"  --data-dir DIR            database and job files (default ./var)\n"
		"  --secret-file FILE        shared peer secret (default DATA_DIR/peer.secret,\n"
		"                            created 0600 with random content when missing)\n"
		"  --workers N               migrations run at once, more are queued (default 2)\n"
		"  --www DIR                 dashboard files (default: www/ beside the binary's\n"
		"                            parent directory, when present)\n"
		"  --criu-log-level N        CRIU's log level 0-4 (default 2)\n"
		"  --docker-host unix:///PATH  the Docker engine's API socket\n"
		"                            (default unix:///var/run/docker.sock; \"\": none)\n"
		"  --podman-host unix:///PATH  the Podman API socket (podman system service)\n"
		"                            (default unix:///run/podman/podman.sock; \"\": none)\n"
		"  --runc-root DIR           runc's state directory (runc --root; default\n"
		"                            /run/runc; \"\": none)\n"
		"  --api-token-file FILE     a bearer token every API request but GET /healthz\n"
		"                            must carry; required unless --listen is loopback\n"
		"  --tls-cert FILE, --tls-key FILE  serve the API over HTTPS (PEM files)\n"
		"  --webhook-key-file FILE   the key that signs webhook requests (default\n"
		"                            DATA_DIR/webhook.key, created 0600 when missing)\n"
		"  --webhook-retry-for SECONDS  how long a failing webhook is tried again after\n"
		"                            its job ended (default 900)\n"
		"  --retain-jobs N           finished jobs kept with their events; older ones\n"
		"                            are deleted (default 10000, 0: keep all)\n"
		"  -v, --verbose             debug logging\n"
		"  -h, --help                this text\n"
		"  -V, --version             print the version\n");
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "peer-listen", required_argument, NULL, 'p' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "workers", required_argument, NULL, 'w' },
		{ "www", required_argument, NULL, 'W' },
		{ "criu-log-level", required_argument, NULL, 'c' },
		{ "retain-jobs", required_argument, NULL, 'r' },
		{ "docker-host", required_argument, NULL, 'D' },
		{ "podman-host", required_argument, NULL, 'P' },
		{ "runc-root", required_argument, NULL, 'R' },
		{ "api-token-file", required_argument, NULL, 'T' },
		{ "tls-cert", required_argument, NULL, 'C' },
		{ "tls-key", required_argument, NULL, 'K' },
		{ "webhook-key-file", required_argument, NULL, 'H' },
		{ "webhook-retry-for", required_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char host[256];
	int ch, port;

	while ((ch = getopt_long(argc, argv, "vhV", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': c->listen = optarg; break;
		case 'p': c->peer_listen = optarg; break;
		case 'd': c->data_dir = optarg; break;
		case 's': c->secret_file = optarg; break;
		case 'W': c->www_dir = optarg; break;
		case 'D': c->docker_host = optarg; break;
		case 'P': c->podman_host = optarg; break;
		case 'R': c->runc_root = optarg; break;
		case 'T': c->api_token_file = optarg; break;
		case 'C': c->tls_cert = optarg; break;
		case 'K': c->tls_key = optarg; break;
		case 'H': c->webhook_key_file = optarg; break;
		case 'F':
			if (parse_long(optarg, 1, 86400, &c->webhook_retry_s) < 0) {
				fprintf(stderr, "hauld: --webhook-retry-for must be 1..86400 seconds\n");
				return -1;
			}
			break;
		case 'v': c->verbose = 1; break;
		case 'w':
			if (parse_long(optarg, 1, 64, &c->workers) < 0) {
				fprintf(stderr, "hauld: --workers must be 1..64\n");
				return -1;
			}
			break;
		case 'c':
			if (parse_long(optarg, 0, 4, &c->criu_log_level) < 0) {
				fprintf(stderr, "hauld: --criu-log-level must be 0..4\n");
				return -1;
			}
			break;
		case 'r':
			if (parse_long(optarg, 0, 100000000, &c->retain_jobs) < 0) {
				fprintf(stderr, "hauld: --retain-jobs must be 0..100000000\n");
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("hauld %s\n", HAULD_VERSION); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hauld: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	{
		char tmp[256];

		if ((c->docker_host[0] && ctr_parse_host(c->docker_host, tmp, sizeof(tmp)) < 0) ||
		    (c->podman_host[0] && ctr_parse_host(c->podman_host, tmp, sizeof(tmp)) < 0)) {
			fprintf(stderr, "hauld: --docker-host and --podman-host take "
				"unix:///PATH (an absolute path, at most %d bytes)\n",
				CTR_PATH_MAX - 1);
			return -1;
		}
		if (c->runc_root[0] && (c->runc_root[0] != '/' || strlen(c->runc_root) >= 256)) {
			fprintf(stderr, "hauld: --runc-root takes an absolute path\n");
			return -1;
		}
		if (!c->tls_cert != !c->tls_key) {
			fprintf(stderr, "hauld: --tls-cert and --tls-key go together\n");
			return -1;
		}
	}
	if (hostport_parse(c->listen, host, sizeof(host), &port, 1) < 0 ||
	    hostport_parse(c->peer_listen, host, sizeof(host), &port, 1) < 0) {
		fprintf(stderr, "hauld: --listen and --peer-listen take ADDR:PORT\n");
		return -1;
	}
	return 0;
}

/* Read a secret, creating it (0600, 32 random bytes as hex) when missing; the
 * sentence logged then says who needs a copy. */
static int load_secret(const char *path, const char *who, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	int ret;

	if (stat(path, &st) < 0 && errno == ENOENT) {
		unsigned char raw[32];
		char hex[65];
		int fd;

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
	} else if ((st.st_mode & 077) != 0) {
		log_warnx("%s can be read by others; chmod 600 it", path);
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

	if (stat(path, &st) == 0 && (st.st_mode & 077))
		log_warnx("%s can be read by others; chmod 600 it", path);
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

/* www/ next to the build directory of the binary, when the operator did not say. */
static const char *find_www(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	struct stat st;

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	for (int up = 0; up < 2 && (slash = strrchr(exe, '/')); up++)
		*slash = '\0';
	if ((size_t)snprintf(buf, len, "%s/www", exe) >= len)
		return NULL;
	return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.listen = "127.0.0.1:8420", .peer_listen = "0.0.0.0:8421", .data_dir = "./var",
		.workers = 2, .criu_log_level = 2, .retain_jobs = 10000, .webhook_retry_s = 900,
		.docker_host = "unix:///var/run/docker.sock",
		.podman_host = "unix:///run/podman/podman.sock", .runc_root = "/run/runc",
	};
	struct engine_config ecfg = { 0 };
	struct criu_info ci;
	struct store *st = NULL;
	struct engine *eng = NULL;
	struct http_server *http = NULL;
	struct api api = { 0 };
	char secret_path[PATH_MAX], db_path[PATH_MAX], www[PATH_MAX], host[256];
	char self_exe[PATH_MAX];
	char *secret = NULL, *token = NULL, *tls_cert = NULL, *tls_key = NULL, *wh_key = NULL;
	char wh_path[PATH_MAX];
	size_t wh_key_len = 0;
	struct webhook_config whcfg = { 0 };
	struct webhooks *wh = NULL;
	struct http_tls tls = { 0 };
	size_t secret_len = 0;
	sigset_t sigs;
	int ret, port, peer_port = 0, api_port = 0, sig;

	/* In lazy mode CRIU runs hauld itself as its action script. */
	if (getenv("CRTOOLS_SCRIPT_ACTION") && getenv("HAULD_HOOK"))
		return criu_hook_main();
	if (parse_args(argc, argv, &cfg) < 0)
		return 2;
	log_init(cfg.verbose);
	metrics_init();
	json_object_seed(0);
	signal(SIGPIPE, SIG_IGN);
	/* Every thread inherits this mask; main alone waits for the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	ret = mkdir_p(cfg.data_dir, 0700);
	if (ret < 0)
		fatalx("cannot create data dir %s: %s", cfg.data_dir, strerror(-ret));
	if (!cfg.secret_file) {
		snprintf(secret_path, sizeof(secret_path), "%s/peer.secret", cfg.data_dir);
		cfg.secret_file = secret_path;
	}
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
		size_t n;

		if (file_read_all(cfg.tls_cert, 1 << 20, &tls_cert, &n) < 0 ||
		    file_read_all(cfg.tls_key, 1 << 20, &tls_key, &n) < 0)
			fatalx("cannot read --tls-cert %s or --tls-key %s", cfg.tls_cert,
			       cfg.tls_key);
	}
	ret = load_secret(cfg.secret_file, "the peer secret; copy it to the hosts this one "
			  "migrates with", &secret, &secret_len);
	if (ret < 0)
		fatalx("cannot use the secret file %s: %s (it needs at least %d bytes)",
		       cfg.secret_file, strerror(-ret), SECRET_MIN);

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

	if (!cfg.webhook_key_file) {
		snprintf(wh_path, sizeof(wh_path), "%s/webhook.key", cfg.data_dir);
		cfg.webhook_key_file = wh_path;
	}
	ret = load_secret(cfg.webhook_key_file, "the key that signs webhook requests; give "
			  "it to their receivers", &wh_key, &wh_key_len);
	if (ret < 0)
		fatalx("cannot use the webhook key file %s: %s (it needs at least %d bytes)",
		       cfg.webhook_key_file, strerror(-ret), SECRET_MIN);

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

	do {
		ret = sigwait(&sigs, &sig);
	} while (ret != 0);
	log_info("signal %d: shutting down", sig);
	notify_set(NULL);
	http_stop(http);
	engine_free(eng);
	webhooks_stop(wh);
	store_free(st);
	free(secret);
	free(wh_key);
	free(token);
	free(tls_cert);
	free(tls_key);
	log_info("stopped");
	return 0;
}
