#!/usr/bin/env bash
# bench/batch.sh: whole-process figures of `avupload upload` batches on
# loopback, against `avupload sandbox` storing uploads on disk (a fresh
# sandbox for every run, so that runs do not pile up on disk).
#
#   1. many small files: BATCH_FILES files of 1 to 8 MiB (sizes drawn with a
#      fixed seed) at --jobs 4 with a journal, against one file of the same
#      total size uploaded alone with the default options; BENCH_REPS runs of
#      each, alternated; medians and their ratio (target: at least 0.8).
#   2. large files: 6 files of BATCH_LARGE_MIB (default 300) MiB at --jobs 2 with a journal; peak RSS,
#      the largest of BENCH_REPS runs (target: under 64 MiB).
#   3. tiny files: BATCH_TINY files of 1 KiB at --jobs 4, with a journal and
#      without one; files per second, medians; the journal's share of the time.
#
# Every run is checked: the sandbox must hold each file as exactly one
# complete video with the file's SHA-256. Environment: GO (default go),
# BENCH_REPS (default 3), BATCH_FILES (default 200), BATCH_TINY (default
# 10000), TMPDIR (where the files and the sandbox's data go; about 4 GiB).
# Run it under the machine's heavy-work lock when others share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
REPS=${BENCH_REPS:-3}
NFILES=${BATCH_FILES:-200}
NTINY=${BATCH_TINY:-10000}
LARGE_MIB=${BATCH_LARGE_MIB:-300}
KEY=bench-api-key

for tool in curl python3 /usr/bin/time sha256sum; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/avupload-batchbench.XXXXXX")
sandbox_pid=
stop_sandbox() {
	if [[ -n $sandbox_pid ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
		sandbox_pid=
	fi
	rm -rf "$work/data"
}
trap 'stop_sandbox; rm -rf "$work"' EXIT

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

start_sandbox() {
	stop_sandbox
	"$bin" sandbox --addr 127.0.0.1:0 --data-dir "$work/data" --api-key "$KEY" >"$work/sandbox.out" 2>"$work/sandbox.err" &
	sandbox_pid=$!
	url=
	for _ in $(seq 100); do
		url=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.out")
		[[ -n $url ]] && break
		sleep 0.1
	done
	[[ -n $url ]] || { echo "bench: the sandbox did not start:" >&2; cat "$work/sandbox.err" >&2; exit 1; }
	token=$(curl -sS -u "$KEY:" -H 'Content-Type: application/json' -d '{"ttl":0}' "$url/upload-tokens" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
}

# check SUMS: every sum listed in the file SUMS is exactly one complete video.
check() {
	curl -sS "$url/_sandbox/videos" | python3 -c '
import collections, json, sys
want = [l.split()[0] for l in open(sys.argv[1])]
got = collections.Counter(v["sha256"] for v in json.load(sys.stdin) if v["complete"])
bad = [s for s in want if got[s] != 1]
if bad or sum(got.values()) != len(want):
    sys.exit("bench: the sandbox does not hold every file exactly once: %d missing or doubled, %d complete videos for %d files" % (len(bad), sum(got.values()), len(want)))
' "$1"
}

# timed OUT CMD...: runs CMD, appends "seconds peak-RSS-KiB" to OUT.
timed() {
	local out=$1
	shift
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/cmd.out" 2>"$work/cmd.err" ||
		{ echo "bench: $* failed:" >&2; tail -5 "$work/cmd.err" >&2; exit 1; }
	cat "$work/time" >>"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maxof() { sort -n | tail -1; }

log "building avupload"
bin=$work/avupload
"$GO" build -o "$bin" ./cmd/avupload

log "writing $NFILES files of 1 to 8 MiB, and one file of their total size"
mkdir -p "$work/many"
python3 - "$work/many" "$NFILES" <<'EOF'
import os, random, sys
rng = random.Random(16)
for i in range(int(sys.argv[2])):
    d = os.path.join(sys.argv[1], "d%d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "v%03d.mp4" % i), "wb") as f:
        f.write(os.urandom(rng.randint(1 << 20, 8 << 20)))
EOF
(cd "$work/many" && find . -type f -exec sha256sum {} + >"$work/many.sums")
total=$(find "$work/many" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
head -c "$total" /dev/urandom >"$work/one.bin"
sha256sum "$work/one.bin" >"$work/one.sums"
log "$NFILES files, $total bytes in all"

for rep in $(seq "$REPS"); do
	log "many small files, run $rep of $REPS"
	start_sandbox
	timed "$work/t.batch" "$bin" upload --token "$token" --base-url "$url" --jobs 4 --journal "$work/j.$rep" "$work/many"
	check "$work/many.sums"
	start_sandbox
	timed "$work/t.one" "$bin" upload --token "$token" --base-url "$url" "$work/one.bin"
	check "$work/one.sums"
done
batch_s=$(cut -d' ' -f1 "$work/t.batch" | median)
one_s=$(cut -d' ' -f1 "$work/t.one" | median)

log "writing 6 files of $LARGE_MIB MiB"
mkdir -p "$work/large"
for i in 1 2 3 4 5 6; do head -c $((LARGE_MIB << 20)) /dev/urandom >"$work/large/l$i.mp4"; done
(cd "$work/large" && sha256sum ./* >"$work/large.sums")
for rep in $(seq "$REPS"); do
	log "large files, run $rep of $REPS"
	start_sandbox
	timed "$work/t.large" "$bin" upload --token "$token" --base-url "$url" --jobs 2 --journal "$work/jl.$rep" "$work/large"
	check "$work/large.sums"
done
rm -rf "$work/large"
large_rss=$(cut -d' ' -f2 "$work/t.large" | maxof)
large_s=$(cut -d' ' -f1 "$work/t.large" | median)

log "writing $NTINY files of 1 KiB"
mkdir -p "$work/tiny"
python3 - "$work/tiny" "$NTINY" <<'EOF'
import os, sys
for i in range(int(sys.argv[2])):
    d = os.path.join(sys.argv[1], "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "t%05d.mp4" % i), "wb") as f:
        f.write(os.urandom(1024))
EOF
(cd "$work/tiny" && find . -type f -exec sha256sum {} + >"$work/tiny.sums")
for rep in $(seq "$REPS"); do
	log "tiny files, run $rep of $REPS"
	start_sandbox
	timed "$work/t.tinyj" "$bin" upload --token "$token" --base-url "$url" --jobs 4 --journal "$work/jt.$rep" "$work/tiny"
	check "$work/tiny.sums"
	start_sandbox
	timed "$work/t.tiny" "$bin" upload --token "$token" --base-url "$url" --jobs 4 "$work/tiny"
	check "$work/tiny.sums"
	log "tiny files, rerun with the journal (every file skipped after a SHA-256 check)"
	timed "$work/t.tinyskip" "$bin" upload --token "$token" --base-url "$url" --jobs 4 --journal "$work/jt.$rep" "$work/tiny"
done
tinyj_s=$(cut -d' ' -f1 "$work/t.tinyj" | median)
tiny_s=$(cut -d' ' -f1 "$work/t.tiny" | median)
skip_s=$(cut -d' ' -f1 "$work/t.tinyskip" | median)

python3 - "$total" "$batch_s" "$one_s" "$large_s" "$large_rss" "$NFILES" "$NTINY" "$tinyj_s" "$tiny_s" "$skip_s" "$REPS" "$LARGE_MIB" <<'EOF'
import sys
total, batch_s, one_s, large_s, large_rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
nfiles, ntiny, tinyj, tiny, skip, reps = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9]), float(sys.argv[10]), sys.argv[11]
large_mib = int(sys.argv[12])
mib = total / 2**20
print("Medians of %s runs (peak RSS: the largest), loopback, sandbox on disk.\n" % reps)
print("| run | figure |")
print("|---|---|")
print("| %d files of 1-8 MiB (%.0f MiB), --jobs 4, journal | %.2f s, %.0f MiB/s |" % (nfiles, mib, batch_s, mib / batch_s))
print("| one file of %.0f MiB, default options | %.2f s, %.0f MiB/s |" % (mib, one_s, mib / one_s))
print("| batch / one file throughput | **%.2fx** (target >= 0.8x) |" % (one_s / batch_s))
print("| 6 files of %d MiB, --jobs 2, journal | %.2f s, %.0f MiB/s, peak RSS **%.1f MiB** (target < 64 MiB) |" % (large_mib, large_s, 6 * large_mib / large_s, large_rss / 1024))
print("| %d files of 1 KiB, --jobs 4, journal | %.2f s, **%.0f files/s** |" % (ntiny, tinyj, ntiny / tinyj))
print("| %d files of 1 KiB, --jobs 4, no journal | %.2f s, %.0f files/s |" % (ntiny, tiny, ntiny / tiny))
print("| journal's share of the tiny-file batch | %.1f%% |" % (max(0.0, tinyj - tiny) / tinyj * 100))
print("| rerun of the tiny-file batch, every file skipped after a SHA-256 check | %.2f s, %.0f files/s |" % (skip, ntiny / skip))
EOF
