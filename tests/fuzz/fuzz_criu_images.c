/* fuzz_criu_images.c: libFuzzer harness for hauld's decoders of CRIU's images. The
 * first byte chooses one, the rest is the image:
 *   0: stats-dump / stats-restore (criu_stats_parse), which every job's figures
 *      come from;
 *   1: a pagemap image, whose lazy pages the source counts (criu_lazy_pages_count);
 *   2: files.img as a peer sends it, whose listening sockets the destination checks
 *      before a restore (criu_inet_ports). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "criu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dir_fd = -1;

/* The image as the one file NAME of the harness's own directory. */
static int put(const char *name, const uint8_t *data, size_t size)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = -1;

	if (fd < 0)
		return -1;
	if (size == 0 || (n = write(fd, data, size)) == (ssize_t)size)
		n = 0;
	close(fd);
	return n == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct criu_inet_port ports[16];
	struct criu_stats st;
	int64_t pages;
	size_t n;

	if (size < 1 || size > (1 << 20))
		return 0;
	/* In the directory the fuzzer runs in (build-fuzz/ under make fuzz). */
	if (dir_fd < 0) {
		if ((mkdir("images", 0700) < 0 && errno != EEXIST) ||
		    (dir_fd = open("images", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			abort();
	}
	switch (data[0] % 3) {
	case 0:
		criu_stats_parse(data + 1, size - 1, &st);
		break;
	case 1:
		if (put("pagemap-1.img", data + 1, size - 1) == 0)
			criu_lazy_pages_count(dir_fd, &pages);
		break;
	default:
		if (put("files.img", data + 1, size - 1) == 0)
			criu_inet_ports(dir_fd, ports, sizeof(ports) / sizeof(ports[0]), &n);
		break;
	}
	return 0;
}
