#!/usr/bin/env bash
# test_01_api.sh: one daemon, bad requests. Every one gets the documented status and
# an error body with a stable code (and the offending field where there is one), no
# job is created, and the daemon and the process named in the requests live on.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

start_hauld A || die "daemon A starts" "see $T/A.log"
W=$(start_workload w 1) || die "workload starts" "no workload"
NOWHERE=127.0.0.1:$(closed_port)

# expect_error NAME STATUS_REGEX FIELD CODE: checks the last answer. FIELD or CODE
# "-" means any (the field must then still be a string or null).
expect_error() {
	local name=$1 status=$2 field=$3 code=$4 got_code got_field got_msg
	if ! [[ "$HTTP_STATUS" =~ ^($status)$ ]]; then
		fail "$name" "HTTP $HTTP_STATUS, want $status: $HTTP_BODY"
		return 1
	fi
	got_code=$(jget "$HTTP_BODY" '.error.code')
	got_field=$(jget "$HTTP_BODY" '.error.field')
	got_msg=$(jget "$HTTP_BODY" '.error.message')
	if [ -z "$got_code" ] || ! [[ "$got_code" =~ ^[a-z_]+$ ]]; then
		fail "$name" "HTTP $HTTP_STATUS but no error.code: $HTTP_BODY"
		return 1
	fi
	if [ -z "$got_msg" ]; then
		fail "$name" "no error.message: $HTTP_BODY"
		return 1
	fi
	if [ "$code" != - ] && [ "$got_code" != "$code" ]; then
		fail "$name" "error.code '$got_code', want '$code': $HTTP_BODY"
		return 1
	fi
	if [ "$field" != - ] && [ "$got_field" != "$field" ]; then
		fail "$name" "error.field '$got_field', want '$field': $HTTP_BODY"
		return 1
	fi
	pass "$name ($HTTP_STATUS $got_code${got_field:+ field=$got_field})"
}

post() {
	api POST "$A_API/migrations" "$1" >/dev/null
}

# Malformed bodies.
post '{"type":"pid","pid":'
expect_error "invalid JSON" 400 - invalid_json
post '{"type":"pid","pid":'"$W"',"to":"'"$NOWHERE"'","to":"'"$NOWHERE"'"}'
expect_error "duplicate key" 400 - -
post '[1,2,3]'
expect_error "not an object" 400 - -
post ''
expect_error "empty body" 400 - -

# Fields of the wrong type, unknown or missing.
post '{"type":"pid","pid":"'"$W"'","to":"'"$NOWHERE"'"}'
expect_error "pid as a string" 400 pid invalid_type
post '{"type":"pid","pid":1.5,"to":"'"$NOWHERE"'"}'
expect_error "pid not an integer" '400|422' pid -
post '{"type":"pid","pid":'"$W"',"to":12}'
expect_error "to as a number" 400 to invalid_type
post '{"type":"pid","pid":'"$W"',"to":"'"$NOWHERE"'","colour":"blue"}'
expect_error "unknown field" 400 colour unknown_field
post '{"type":"pid","pid":'"$W"'}'
expect_error "missing to" 400 to missing_field
post '{"type":"pid","to":"'"$NOWHERE"'"}'
expect_error "missing pid" 400 pid missing_field
post '{"type":"vm","pid":'"$W"',"to":"'"$NOWHERE"'"}'
expect_error "unknown type" '400|422' type -

# Processes that must not move.
post '{"type":"pid","pid":1,"to":"'"$NOWHERE"'"}'
expect_error "pid 1" 422 pid -
post '{"type":"pid","pid":'"$A_PID"',"to":"'"$NOWHERE"'"}'
expect_error "the daemon's own pid" 422 pid -
post '{"type":"pid","pid":'"$(free_pid)"',"to":"'"$NOWHERE"'"}'
expect_error "a pid nobody has" 422 pid -
post '{"type":"pid","pid":0,"to":"'"$NOWHERE"'"}'
expect_error "pid 0" '400|422' pid -
post '{"type":"pid","pid":-5,"to":"'"$NOWHERE"'"}'
expect_error "negative pid" '400|422' pid -
if KT=$(kthread_pid); then
	post '{"type":"pid","pid":'"$KT"',"to":"'"$NOWHERE"'"}'
	expect_error "kernel thread $KT ($(cat "/proc/$KT/comm"))" 422 pid -
else
	skip "kernel thread" "no kernel thread visible"
fi

# Destinations that are not HOST:PORT.
for to in nohost h:99999 h:0 h: :80 "h:80x" "" "h:-1"; do
	post '{"type":"pid","pid":'"$W"',"to":"'"$to"'"}'
	expect_error "to '$to'" '400|422' to -
done

# A body over 64 KiB, valid JSON all the same.
pad=$(head -c 70000 /dev/zero | tr '\0' x)
printf '{"type":"pid","pid":%s,"to":"%s","pad":"%s"}' "$W" "$NOWHERE" "$pad" >"$T/big.json"
api POST "$A_API/migrations" "@$T/big.json" >/dev/null
if [ "$HTTP_STATUS" = 413 ]; then
	pass "body over 64 KiB (413)"
else
	fail "body over 64 KiB" "HTTP $HTTP_STATUS, want 413: $HTTP_BODY"
fi

# Unknown resources and methods.
api GET "$A_API/migrations/unknown-id" >/dev/null
expect_error "unknown job id" 404 - not_found
api GET "$A_API/migrations/$(cat /proc/sys/kernel/random/uuid)" >/dev/null
expect_error "job id nobody has" 404 - not_found
api GET "$A_API/no-such-thing" >/dev/null
expect_error "unknown path" 404 - -
api DELETE "$A_API/healthz" >/dev/null
expect_error "DELETE /healthz" 405 - method_not_allowed
api PUT "$A_API/migrations" '{}' >/dev/null
expect_error "PUT /migrations" 405 - method_not_allowed

# Nothing above created a job, and everyone is still there.
api GET "$A_API/migrations" >/dev/null
expect_eq "GET /migrations answers" "$HTTP_STATUS" 200
expect_eq "no job was created" "$(jget "$HTTP_BODY" '.migrations | length')" 0
api GET "$A_API/healthz" >/dev/null
expect_eq "GET /healthz answers" "$HTTP_STATUS" 200
expect_eq "healthz status" "$(jget "$HTTP_BODY" .status)" ok
expect_match "healthz names the CRIU version" "$(jget "$HTTP_BODY" .criu.version)" '[0-9]'
expect_true "daemon still running" pid_alive "$A_PID"
expect_workload "workload untouched" "$W" "$T/w.status"
check_workload_intact "$T/w.status" 1 "$(status_field "$T/w.status" counter)"

finish
