#!/usr/bin/env bash
# test_34_hostile_peer.sh: a peer that has the secret but does not follow the
# protocol (build/peerctl, a scriptable source on hauld's own peer code).
#   (a) commit before anything was restored, with the page server already
#       started: answered not_restored, and the destination's job ends at once
#       (failed, peer_protocol) with no CRIU child left behind, instead of staying
#       running/receiving with a zombie page server until a restart.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

make_secret "$T/secret"
start_hauld B --secret-file "$T/secret" || die "daemon B starts" "see $T/B.log"
api GET "$B_API/healthz" >/dev/null
CRIU_VER=$(jget "$HTTP_BODY" .criu.version)
mkdir -p "$T/cpuinfo"
/usr/local/sbin/criu cpuinfo dump -D "$T/cpuinfo" 2>/dev/null ||
	criu cpuinfo dump -D "$T/cpuinfo" || die "cpuinfo" "criu cpuinfo dump failed"

peerctl() {
	"$BUILD/peerctl" "$B_PEER" "$T/secret"
}

# prepare ID: the commands that prepare job ID as a source would.
prepare() {
	cat <<EOF
connect control
send {"op":"prepare","job":"$1","type":"pid","mode":"live","pid":4242,"source_port":1,"strategy":"stop-and-copy","criu_version":$CRIU_VER,"criu_version_text":"x","facts":{"own_pidns":true,"pids":[]},"options":{},"host":{}}
senddir $T/cpuinfo
recv
EOF
}

echo "(a) commit before restore"
ID=$(cat /proc/sys/kernel/random/uuid)
{
	prepare "$ID"
	echo "connect memory"
	echo "send {\"op\":\"attach\",\"job\":\"$ID\"}"
	echo "recv"
	echo "use 0"
	echo "send {\"op\":\"pages\",\"job\":\"$ID\",\"dir\":\"images\"}"
	echo "recv"
	echo "send {\"op\":\"commit\",\"job\":\"$ID\"}"
	echo "recv"
	echo "sleep 500"
} >"$T/a.script"
peerctl <"$T/a.script" >"$T/a.out" 2>"$T/a.err"
note "(a) answers: $(tr '\n' ' ' <"$T/a.out") $(cat "$T/a.err")"
expect_eq "(a) prepared" "$(sed -n 1p "$T/a.out" | jq -r .ok)" true
expect_eq "(a) memory attached" "$(sed -n 2p "$T/a.out" | jq -r .ok)" true
expect_eq "(a) page server started" "$(sed -n 3p "$T/a.out" | jq -r .ok)" true
expect_eq "(a) commit answered not_restored" "$(sed -n 4p "$T/a.out" | jq -r .code)" not_restored
json=$(wait_job "$B_API" "$ID" 10) || true
expect_eq "(a) the destination's job ended" "$(jget "$json" .state)/$(jget "$json" .error.code)" \
	"failed/peer_protocol"
sleep 0.5
expect_eq "(a) no CRIU child of the daemon left" \
	"$(ps -o pid=,stat=,comm= --ppid "$B_PID" | grep -v hauld || true)" ""
finish
