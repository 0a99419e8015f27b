/* oddfd.c: a process that holds one file descriptor of a kind CRIU cannot
 * checkpoint, for the tests of hauld's failure messages.
 *
 *   oddfd userfaultfd | perf
 *
 * It opens the descriptor (a userfaultfd, or a software perf event counting its own
 * task clock) and then sleeps until a signal ends it. It exits 1 when the kernel
 * refuses the descriptor. */
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "userfaultfd";
	long fd = -1;

	if (strcmp(kind, "userfaultfd") == 0) {
		fd = syscall(SYS_userfaultfd, 0);
	} else if (strcmp(kind, "perf") == 0) {
		struct perf_event_attr a;

		memset(&a, 0, sizeof(a));
		a.type = PERF_TYPE_SOFTWARE;
		a.size = sizeof(a);
		a.config = PERF_COUNT_SW_TASK_CLOCK;
		fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	} else {
		fprintf(stderr, "usage: oddfd userfaultfd|perf\n");
		return 2;
	}
	if (fd < 0) {
		perror(kind);
		return 1;
	}
	for (;;)
		pause();
}
