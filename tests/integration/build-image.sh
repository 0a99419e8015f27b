#!/usr/bin/env bash
# build-image.sh: the container image of the container tests, made from this machine's
# Debian binaries without any registry.
#
#   tests/integration/build-image.sh OUTDIR
#
# Produces
#   OUTDIR/rootfs/     the root file system (also a runc bundle's rootfs, see engines.sh)
#   OUTDIR/image.tar   a `docker save` archive tagged localhost/hauld-test:1, which
#                      POST /images/load of Docker and of libpod both accept
#   OUTDIR/image.id    sha256:... of its config, the image ID both engines give it
# The image holds busybox-static with its applet links, redis-server and redis-cli with
# the libraries ldd names, /bin/counter (a shell loop printing "tick N" every 0.2 s, its
# state only in memory) and an /etc/passwd with root only.
#
# The archive is byte-for-byte the same on every build from the same binaries (sorted
# tar, mtime 0, owner 0, a config with a fixed date), so every daemon that loads it gives
# it the same image ID: a destination engine then has "the same image" by ID, as it
# would after a pull on two real hosts. A second call with the same OUTDIR and the same
# inputs changes nothing and takes a few milliseconds (OUTDIR/.stamp).
#
# Needs busybox-static, redis-server and redis-tools (scripts/setup.sh installs the
# latter two; busybox-static comes with the container packages).
#
# Environment: IMAGE_TAG, the tag [localhost/hauld-test:1]; EXTRA_BINS, more programs
# (absolute paths) to put into /usr/bin with their libraries, such as the benchmarks'
# build/workload [none].
set -euo pipefail

OUT=${1:?usage: build-image.sh OUTDIR}
TAG=${IMAGE_TAG:-localhost/hauld-test:1}
read -r -a EXTRA <<<"${EXTRA_BINS:-}"
BUSYBOX=/bin/busybox
# Debian's redis-server is a link to redis-check-rdb, which picks its role by argv[0].
REDIS=/usr/bin/redis-check-rdb
REDIS_CLI=/usr/bin/redis-cli
# Modes of the directories made here must not depend on the caller's umask.
umask 022

for f in "$BUSYBOX" "$REDIS" "$REDIS_CLI"; do
	[ -x "$f" ] || { echo "build-image.sh: $f is missing (busybox-static, redis-server, redis-tools)" >&2; exit 1; }
done
"$BUSYBOX" --list >/dev/null 2>&1 || { echo "build-image.sh: $BUSYBOX has no applet list (not busybox-static?)" >&2; exit 1; }

# The inputs are this script and the binaries (their libraries come with their
# packages' versions, which the binaries' hashes stand for well enough).
stamp=$( (cat "${BASH_SOURCE[0]}" "$BUSYBOX" "$REDIS" "$REDIS_CLI" "${EXTRA[@]}"; echo "$TAG") |
	sha256sum | cut -d' ' -f1)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ] && [ -s "$OUT/image.tar" ] &&
	[ -s "$OUT/image.id" ] && [ -d "$OUT/rootfs" ]; then
	exit 0
fi

rm -rf "$OUT/rootfs" "$OUT/image.tar" "$OUT/image.id" "$OUT/.stamp" "$OUT/.work"
mkdir -p "$OUT"
R=$OUT/rootfs
mkdir -p "$R"/{bin,etc,root,tmp,data,proc,sys,dev,run,lib64,usr/bin,lib/x86_64-linux-gnu}
chmod 1777 "$R/tmp"

cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do
	[ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# Each library at the path ldd found it, so the loader's built-in directories find it
# without an ld.so.cache.
for b in "$REDIS" "$REDIS_CLI" "${EXTRA[@]}"; do
	cp "$b" "$R/usr/bin/"
	for l in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$R$(dirname "$l")"
		cp -L "$l" "$R$l"
	done
done
ln -s redis-check-rdb "$R/usr/bin/redis-server"

echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
# The engines bind-mount their own over these.
: >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
: >"$R/etc/hostname"

cat >"$R/bin/counter" <<'EOF'
#!/bin/sh
# counter: prints "tick N" every 0.2 s; N lives only in this shell's memory, so a
# restored copy that goes on from where it was proves its memory came along.
i=0
while :; do
	i=$((i + 1))
	echo "tick $i"
	sleep 0.2
done
EOF
chmod 755 "$R/bin/counter"

# Deterministic tars: names sorted, times 0, owner root, no per-file extended headers.
dtar() {
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu "$@"
}

# The docker-save layout: manifest.json, repositories, the config as <id>.json and the
# one layer as <diff id>/layer.tar.
W=$OUT/.work
mkdir -p "$W"
dtar -C "$R" -cf "$W/layer.tar" .
diff_id=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
mkdir "$W/$diff_id"
mv "$W/layer.tar" "$W/$diff_id/layer.tar"
printf '%s' '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",'\
'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],'\
'"Cmd":["/bin/counter"],"WorkingDir":"/"},'\
'"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},'\
'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"build-image.sh"}]}' >"$W/config.json"
config_id=$(sha256sum "$W/config.json" | cut -d' ' -f1)
mv "$W/config.json" "$W/$config_id.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' \
	"$config_id" "$TAG" "$diff_id" >"$W/manifest.json"
printf '{"%s":{"%s":"%s"}}\n' "${TAG%:*}" "${TAG##*:}" "$config_id" >"$W/repositories"
dtar -C "$W" -cf "$OUT/image.tar.tmp" .
rm -rf "$W"
mv "$OUT/image.tar.tmp" "$OUT/image.tar"
echo "sha256:$config_id" >"$OUT/image.id"
echo "$stamp" >"$OUT/.stamp"
