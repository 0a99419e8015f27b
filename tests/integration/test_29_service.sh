#!/usr/bin/env bash
# test_29_service.sh: hauld as an installed service.
#   (a) `make install DESTDIR=... PREFIX=/usr/local` puts every file where it belongs,
#       and nothing else; a second install keeps an operator's configuration file;
#       PREFIX=/usr points the unit at /usr/sbin/hauld;
#   (b) --help, the example configuration, the man page and the README name the same
#       options with the same defaults; the man page renders without a warning and
#       `man` finds it where it was installed; `systemd-analyze verify` passes the
#       unit (when systemd-analyze exists);
#   (c) the installed binary, run from a copy of the installed configuration set to
#       this test's ports and data dir, in a control group of its own as systemd runs
#       a unit, tells $NOTIFY_SOCKET it is ready, answers /healthz, serves the
#       installed dashboard, and takes a real migration from an ordinary daemon;
#   (d) KillMode=process is what keeps that workload: it lives in the daemon's
#       control group (what KillMode=control-group would kill), survives a SIGTERM of
#       the daemon alone (what KillMode=process sends), and the daemon started again
#       in the same group finds its job and migrates the workload back;
#   (e) configuration errors (unknown key, bad value, no '=') exit 2 naming the file
#       and the line before anything starts; an option on the command line overrides
#       the file's value;
#   (f) `make uninstall` removes what install put, but the configuration file and a
#       CRIU stamp of scripts/setup.sh.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_root_and_build

R=$T/root
HAULD_BIN=$R/usr/local/sbin/hauld
SHARE=$R/usr/local/share/hauld
UNIT=$R/usr/local/lib/systemd/system/hauld.service
CONF=$R/etc/hauld/hauld.conf
MIB=16
make_secret "$T/secret"

# install DESTDIR [make variables...]: `make install` of the binary under test (-o:
# never rebuilt here), its output in $T/install.log.
install_to() {
	local dest=$1
	shift
	make -C "$ROOT" -s --no-print-directory B="$BUILD" -o "$BUILD/hauld" install \
		DESTDIR="$dest" "$@" >"$T/install.log" 2>&1
}

echo "(a) make install"
install_to "$R" PREFIX=/usr/local || die "(a) make install" "$(cat "$T/install.log")"
files=(
	etc/hauld/hauld.conf
	usr/local/lib/systemd/system/hauld.service
	usr/local/sbin/hauld
	usr/local/share/hauld/hauld.conf.example
	usr/local/share/man/man8/hauld.8
)
# The dashboard: www/ but the chart library's package, of which only the files hauld
# serves and the licence.
www_files() {
	(cd "$ROOT" && find www -path www/vendor -prune -o -type f -print &&
		printf '%s\n' www/vendor/node_modules/uplot/dist/uPlot.iife.min.js \
			www/vendor/node_modules/uplot/dist/uPlot.min.css www/vendor/node_modules/uplot/LICENSE)
}
for f in $(www_files); do files+=("usr/local/share/hauld/$f"); done
# The other engineer's client and its page, installed when they exist.
[ -x "$BUILD/haul" ] && files+=(usr/local/bin/haul)
[ -f "$ROOT/docs/man/haul.1" ] && files+=(usr/local/share/man/man1/haul.1)
expect_eq "(a) exactly the files that belong" \
	"$(cd "$R" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "${files[@]}" | sort | tr '\n' ' ')"
note "(a) installed: ${files[*]}"
expect_true "(a) sbin/hauld is the binary built" cmp -s "$BUILD/hauld" "$HAULD_BIN"
expect_true "(a) ... executable" test -x "$HAULD_BIN"
expect_true "(a) the configuration is the example" cmp -s "$ROOT/scripts/hauld.conf.example" "$CONF"
expect_true "(a) ... and so is its copy in share/hauld" \
	cmp -s "$ROOT/scripts/hauld.conf.example" "$SHARE/hauld.conf.example"
expect_true "(a) the man page" cmp -s "$ROOT/docs/man/hauld.8" "$R/usr/local/share/man/man8/hauld.8"
for f in $(www_files); do
	cmp -s "$ROOT/$f" "$SHARE/$f" || fail "(a) $f installed" "differs or is missing"
done
expect_eq "(a) the unit runs the installed binary with the installed file" \
	"$(sed -n 's/^ExecStart=//p' "$UNIT")" "/usr/local/sbin/hauld --config /etc/hauld/hauld.conf"
expect_eq "(a) the unit is 0644" "$(stat -c %a "$UNIT")" 644

echo "# the operator's" >>"$CONF"
before=$(sha256sum <"$CONF")
install_to "$R" PREFIX=/usr/local || fail "(a) a second make install" "$(cat "$T/install.log")"
expect_eq "(a) a second install keeps the operator's file" "$(sha256sum <"$CONF")" "$before"
expect_match "(a) ... and says so" "$(cat "$T/install.log")" 'KEEP .*etc/hauld/hauld.conf'

install_to "$T/root-usr" PREFIX=/usr || fail "(a) make install PREFIX=/usr" "$(cat "$T/install.log")"
expect_eq "(a) PREFIX=/usr: the unit in /usr/lib/systemd/system runs /usr/sbin/hauld" \
	"$(sed -n 's/^ExecStart=//p' "$T/root-usr/usr/lib/systemd/system/hauld.service" 2>/dev/null)" \
	"/usr/sbin/hauld --config /etc/hauld/hauld.conf"
expect_true "(a) PREFIX=/usr: the binary in /usr/sbin" test -x "$T/root-usr/usr/sbin/hauld"

echo "(b) --help, the example, the man page and the README agree"
"$HAULD_BIN" --help >"$T/help.txt" 2>&1
expect_eq "(b) --help exits 0" "$?" 0
# KEY DEFAULT, one a line, for every option --help shows ("-" when it has no
# default or says it in words).
python3 - "$T/help.txt" >"$T/help.keys" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for m in re.finditer(r'^  (?:-\w, )?--([a-z-]+)(.*?)(?=^  -|^\n|\Z)', text, re.S | re.M):
    d = re.search(r'\(default: (\S+)\)', m.group(2))
    print(m.group(1), d.group(1) if d and d.group(1) != "none" else "-")
EOF
# Those of the example: "KEY VALUE" of its commented-out lines.
sed -n 's/^#\([a-z-]*\) = \(.*\)$/\1 \2/p' "$ROOT/scripts/hauld.conf.example" >"$T/example.keys"
help_keys=$(awk '$1 != "config" && $1 != "help" && $1 != "version" { print $1 }' "$T/help.keys" | sort | tr '\n' ' ')
example_keys=$(awk '{ print $1 }' "$T/example.keys" | sort | tr '\n' ' ')
expect_match "(b) --help lists 18 settings" "$(echo "$help_keys" | wc -w)" '^18$'
expect_eq "(b) --help and the example name the same keys" "$example_keys" "$help_keys"
man_text=$(MANWIDTH=1000 man -l "$ROOT/docs/man/hauld.8" 2>/dev/null | tr -s ' \n' '  ')
readme=$(awk '/^## Daemon/ { on = 1; next } /^## / { on = 0 } on' "$ROOT/README.md")
bad=""
while read -r key def; do
	grep -q -- "^#$key = " "$ROOT/scripts/hauld.conf.example" || [ "$key" = config ] ||
		[ "$key" = help ] || [ "$key" = version ] || bad+=" example:$key"
	case "$man_text" in *"--$key"*) ;; *) bad+=" man:--$key" ;; esac
	case "$readme" in *"--$key"*) ;; *) bad+=" README:--$key" ;; esac
	[ "$def" = - ] && continue
	grep -qx -- "#$key = $def" "$ROOT/scripts/hauld.conf.example" || bad+=" example:$key=$def"
	case "$man_text" in *"Default: $def"*) ;; *) bad+=" man:$key=$def" ;; esac
	case "$readme" in *"\`$def\`"*) ;; *) bad+=" README:$key=$def" ;; esac
done <"$T/help.keys"
expect_eq "(b) every option and default of --help is in the example, the man page and the README" \
	"$bad" ""
expect_eq "(b) the man page renders without a warning" \
	"$(groff -man -Tutf8 -ww "$ROOT/docs/man/hauld.8" 2>&1 >/dev/null)" ""
expect_match "(b) man finds the installed page" \
	"$(env MANPAGER=cat man -M "$R/usr/local/share/man" hauld 2>&1 | head -n 5)" 'hauld - live-migration daemon'
if command -v systemd-analyze >/dev/null 2>&1; then
	# The host has no /usr/local/sbin/hauld: verify a copy that names the installed
	# one, with man finding the installed page (Documentation=man:hauld(8)).
	mkdir -p "$T/verify"
	sed "s|^ExecStart=/usr/local/sbin/hauld|ExecStart=$HAULD_BIN|" "$UNIT" >"$T/verify/hauld.service"
	out=$(MANPATH=$R/usr/local/share/man systemd-analyze verify "$T/verify/hauld.service" 2>&1)
	rc=$?
	expect_eq "(b) systemd-analyze verify: no complaint" "$rc:$out" "0:"
else
	skip "(b) systemd-analyze verify" "systemd-analyze is not installed"
fi
note "(b) PID 1 here is $(cat /proc/1/comm): systemd itself does not run the unit in this test"

echo "(c) the installed daemon, from the installed configuration"
# A datagram socket standing for systemd's $NOTIFY_SOCKET; each message a line.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' "$T/notify.sock" "$T/notify.out" </dev/null >/dev/null 2>&1 &
remember proc $!
disown $!   # cleanup kills it; bash need not report that
wait_for 5 test -S "$T/notify.sock" || die "(c) a notify socket" "python3 did not bind it"

# The control group systemd would give the unit, in the hierarchy it tracks units in.
CG_UNIT=""
for h in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
	if [ -f "$h/cgroup.procs" ] && mkdir "$h/hauld-it-${T##*.}.service" 2>/dev/null; then
		CG_UNIT=$h/hauld-it-${T##*.}.service
		break
	fi
done
# shellcheck disable=SC2317 # lib.sh's cleanup calls it
_cg_cleanup() {
	local p
	[ -n "$CG_UNIT" ] && [ -d "$CG_UNIT" ] || return 0
	# Whatever is left in the group was started here.
	while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$CG_UNIT/cgroup.procs"
	wait_for 5 test ! -s "$CG_UNIT/cgroup.procs"
	rmdir "$CG_UNIT" 2>/dev/null
}
CLEANUP_HOOKS+=(_cg_cleanup)
if [ -n "$CG_UNIT" ]; then note "(c) the unit's control group: $CG_UNIT"; fi

# start_installed NAME CONF [hauld args...]: the installed hauld with --config CONF,
# in $CG_UNIT when there is one, with $NOTIFY_SOCKET; its output in $T/NAME.log.
# Sets NAME_PID, NAME_API and NAME_PEER as start_hauld does. Not for $(...).
start_installed() {
	local name=$1 conf=$2 log pid n api_addr
	shift 2
	log=$T/$name.log
	if [ -e "$log" ]; then
		n=1
		while [ -e "$log.$n" ]; do n=$((n + 1)); done
		mv "$log" "$log.$n"
	fi
	if [ -n "$CG_UNIT" ]; then
		# shellcheck disable=SC2016 # $$, $1 and $@ are the inner shell's
		NOTIFY_SOCKET=$T/notify.sock sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
			sh "$CG_UNIT" "$HAULD_BIN" --config "$conf" "$@" </dev/null >"$log" 2>&1 &
	else
		NOTIFY_SOCKET=$T/notify.sock "$HAULD_BIN" --config "$conf" "$@" </dev/null >"$log" 2>&1 &
	fi
	pid=$!
	remember daemon "$pid"
	printf -v "${name}_PID" '%s' "$pid"
	if ! wait_for 10 _hauld_listening "$log" "$pid"; then
		tail -n 20 "$log" | sed 's/^/    /' >&2
		return 1
	fi
	api_addr=$(sed -n 's/.*INFO listening: api=\([^ ]*\).*/\1/p' "$log" | head -n 1)
	printf -v "${name}_API" '%s' "http://$api_addr"
	printf -v "${name}_PEER" '%s' "$(sed -n 's/.*INFO listening: peer=\([^ ]*\).*/\1/p' "$log" | head -n 1)"
}

# The installed file, set to this test's loopback ports, data dir, secret and token.
sed -e "s|^data-dir = /var/lib/hauld\$|data-dir = $T/S|" \
	-e 's|^#listen = .*|listen = 127.0.0.1:0|' \
	-e 's|^#peer-listen = .*|peer-listen = 127.0.0.1:0|' \
	-e "s|^#secret-file = .*|secret-file = $T/secret|" \
	-e "s|^#api-token-file = .*|api-token-file = $API_TOKEN_FILE|" "$CONF" >"$T/svc.conf"
expect_eq "(c) the copy sets five keys" "$(grep -c -E '^(data-dir|listen|peer-listen|secret-file|api-token-file) = ' "$T/svc.conf")" 5

start_hauld A --secret-file "$T/secret" || die "daemon A starts" "see $T/A.log"
start_installed S "$T/svc.conf" || die "(c) the installed daemon starts" "see $T/S.log"
expect_true "(c) it told NOTIFY_SOCKET it is ready" wait_for 5 grep -q '^READY=1 STATUS=API on ' "$T/notify.out"
expect_match "(c) it logged its file" "$(cat "$T/S.log")" "settings from $T/svc.conf"
api GET "$S_API/healthz" >/dev/null
expect_eq "(c) /healthz answers" "$HTTP_STATUS:$(jget "$HTTP_BODY" .status)" "200:ok"
expect_true "(c) its data dir is the file's" test -f "$T/S/hauld.db"
expect_true "(c) its secret is the file's (no peer.secret made)" test ! -e "$T/S/peer.secret"
curl -s --max-time 10 -o "$T/index.html" "$S_API/"
expect_true "(c) it serves the installed dashboard" cmp -s "$T/index.html" "$SHARE/www/index.html"

W=$(start_workload w "$MIB") || die "(c) workload starts" "no workload"
migrate_and_check "(c) A -> installed S" "$A_API" "$W" "$S_PEER" "$T/w.status" "$MIB" ||
	die "(c) A -> installed S" "the rest needs the migrated workload"
P=$MIGRATED_PID
S_JOB=$JOB_ID
expect_eq "(c) the restored workload is the daemon's child" "$(ps -o ppid= -p "$P" | tr -d ' ')" "$S_PID"

echo "(d) KillMode=process"
if [ -n "$CG_UNIT" ]; then
	expect_match "(d) the workload is in the daemon's control group (control-group would kill it)" \
		" $(tr '\n' ' ' <"$CG_UNIT/cgroup.procs")" " $P "
	# What systemctl stop does with KillMode=process: SIGTERM to the main process only.
	kill -TERM "$S_PID"
	expect_true "(d) the daemon stops on SIGTERM" wait_for 15 pid_gone "$S_PID"
	wait "$S_PID" 2>/dev/null
	expect_eq "(d) ... with exit status 0" "$?" 0
	expect_true "(d) it said STOPPING=1" grep -q '^STOPPING=1' "$T/notify.out"
	expect_workload "(d) the workload runs on without it" "$P" "$T/w.status"
	check_workload_intact "$T/w.status" "$MIB" "$(status_field "$T/w.status" counter)" \
		"(d) ... counting, its memory intact"
	expect_match "(d) ... still in the unit's control group" " $(tr '\n' ' ' <"$CG_UNIT/cgroup.procs")" " $P "
	start_installed S "$T/svc.conf" || die "(d) the daemon starts again" "see $T/S.log"
	api GET "$S_API/migrations/$S_JOB" >/dev/null
	expect_eq "(d) the restarted daemon has the job" \
		"$HTTP_STATUS $(jget "$HTTP_BODY" .role) $(jget "$HTTP_BODY" .state) $(jget "$HTTP_BODY" .result.pid)" \
		"200 destination succeeded $P"
	migrate_and_check "(d) the restarted daemon moves it back" "$S_API" "$P" "$A_PEER" "$T/w.status" "$MIB"
else
	skip "(d) KillMode=process" "no cgroup hierarchy to make a unit's group in"
fi

echo "(e) configuration errors and overrides"
# bad_conf NAME LINE_TEXT: the service file with LINE_TEXT appended; echoes its line.
bad_conf() {
	sed "s|^data-dir = .*|data-dir = $T/never|" "$T/svc.conf" >"$T/$1.conf"
	printf '%s\n' "$2" >>"$T/$1.conf"
	wc -l <"$T/$1.conf"
}
for c in "unknown|colour = blue|unknown key 'colour'" \
	"value|workers = 0|workers: takes a whole number from 1 to 64" \
	"engine|docker-host = tcp://1.2.3.4:2375|docker-host: takes unix:///PATH" \
	"noeq|retain-jobs 5|expected KEY = VALUE"; do
	IFS='|' read -r name text why <<<"$c"
	line=$(bad_conf "$name" "$text")
	timeout 10 "$HAULD_BIN" --config "$T/$name.conf" >"$T/$name.out" 2>&1
	rc=$?
	expect_eq "(e) $name: exit status 2" "$rc" 2
	want="hauld: $T/$name.conf:$line: $why"
	got=$(head -n 1 "$T/$name.out")
	expect_eq "(e) $name: names the file and the line" "${got:0:${#want}}" "$want"
done
expect_true "(e) none of them started anything" test ! -e "$T/never"
chmod 0666 "$T/unknown.conf"
timeout 10 "$HAULD_BIN" --config "$T/unknown.conf" >"$T/perm.out" 2>&1
expect_eq "(e) a file others may write: exit status 2" "$?" 2
expect_match "(e) ... saying so" "$(cat "$T/perm.out")" 'group or others may write it'

sed -e "s|^data-dir = .*|data-dir = $T/never|" "$T/svc.conf" >"$T/o.conf"
start_installed O "$T/o.conf" --data-dir "$T/O" || fail "(e) a daemon with overrides starts" "see $T/O.log"
api GET "$O_API/healthz" >/dev/null
expect_eq "(e) it answers" "$HTTP_STATUS" 200
expect_true "(e) --data-dir overrides the file's data-dir" test -f "$T/O/hauld.db"
expect_true "(e) ... which stays unused" test ! -e "$T/never"
stop_hauld O

echo "(f) make uninstall"
echo "4.2.1 stamp" >"$SHARE/criu-build"
make -C "$ROOT" -s --no-print-directory uninstall DESTDIR="$R" PREFIX=/usr/local >"$T/uninstall.log" 2>&1 ||
	fail "(f) make uninstall" "$(cat "$T/uninstall.log")"
expect_eq "(f) only the configuration file and setup's stamp are left" \
	"$(cd "$R" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')" \
	"etc/hauld/hauld.conf usr/local/share/hauld/criu-build "
finish
