/* cli_job.h: a job (the API's job object) for people: in full (haul show), as the
 * summary of its outcome (haul migrate --wait), as a row of haul ls. */
#ifndef HAUL_CLI_JOB_H
#define HAUL_CLI_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Whether state is succeeded, failed or cancelled. */
bool job_state_final(const char *state);

/* What moves: "1234" for a process tree, the container's name (or id) else. */
void job_target(json_t *job, char *out, size_t len);

/* Where the process runs after a success: "pid 5678", or "container ID (pid 5678)". */
void job_result(json_t *job, char *out, size_t len);

/* Every field of the job, one a line. */
void job_print(FILE *f, json_t *job);

/* The outcome: the state, where the process runs and the figures for a success;
 * the error's code, message and where the process is for the rest. */
void job_print_summary(FILE *f, json_t *job);

#endif
