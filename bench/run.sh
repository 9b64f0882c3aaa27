#!/usr/bin/env bash
# make bench: whole-process comparisons of `avupload upload` against curl, on
# loopback, against one `avupload sandbox` storing uploads on disk.
#
# What runs (each pair alternately, BENCH_REPS times, medians reported):
#   1. avupload upload FILE (1 GiB, 50 MiB chunks, default options)  vs  a curl
#      loop sending the same bytes in the same 50 MiB chunks with the same
#      Content-Range
#   2. cat FILE | avupload upload -  (a stream of unknown length)  vs  the curl loop
#   3. avupload upload of a 200 MiB file  vs  one single-request curl POST of it:
#      the loopback ceiling (the API takes at most 200 MiB without Content-Range)
#   4. avupload upload FILE at --concurrency 1, 2 and 4
#   5. avupload token list --all --page-size 100 over 10,000 tokens: requests, time
#   6. the Go benchmarks of the chunk path (go test -bench . -benchmem)
# Every upload is checked: the sandbox must hold it complete with the file's
# SHA-256. Peak RSS is /usr/bin/time's maximum resident set size of the
# process tree (for curl loops, the largest curl or shell); CPU is its user +
# system time, every process of the run included (the shell and every curl
# of a curl loop; cat for the stdin run), per GiB sent.
#
# The table is printed and written to bench/results/<UTC date>.md (ignored by
# git). Environment: GO (default go), BENCH_REPS (default 5), BENCH_SIZE_MIB
# (default 1024), BENCH_TOKENS (default 10000), BENCH_GO (default 1: run the
# Go benchmarks), TMPDIR (where the files and the sandbox's data go).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
REPS=${BENCH_REPS:-5}
SIZE_MIB=${BENCH_SIZE_MIB:-1024}
CEILING_MIB=200
TOKENS=${BENCH_TOKENS:-10000}
CHUNK_MIB=50
KEY=bench-api-key

for tool in curl python3 /usr/bin/time sha256sum split; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/avupload-bench.XXXXXX")
sandbox_pid=
cleanup() {
	if [[ -n $sandbox_pid ]]; then
		kill "$sandbox_pid" 2>/dev/null || true
		wait "$sandbox_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building avupload"
bin=$work/avupload
"$GO" build -o "$bin" ./cmd/avupload

log "starting the sandbox (directory storage)"
data=$work/data
"$bin" sandbox --addr 127.0.0.1:0 --data-dir "$data" --api-key "$KEY" >"$work/sandbox.out" 2>"$work/sandbox.err" &
sandbox_pid=$!
url=
for _ in $(seq 100); do
	url=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.out")
	[[ -n $url ]] && break
	sleep 0.1
done
[[ -n $url ]] || { echo "bench: the sandbox did not start:" >&2; cat "$work/sandbox.err" >&2; exit 1; }
log "sandbox at $url"

log "writing a ${SIZE_MIB} MiB and a ${CEILING_MIB} MiB file of random bytes"
big=$work/big.bin
small=$work/small.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
head -c $((CEILING_MIB << 20)) /dev/urandom >"$small"
big_sum=$(sha256sum "$big" | cut -d' ' -f1)
small_sum=$(sha256sum "$small" | cut -d' ' -f1)
# The curl loop sends pre-cut chunk files: the cut is not timed, which
# favours curl.
mkdir "$work/chunks"
split -b $((CHUNK_MIB << 20)) -d -a 4 "$big" "$work/chunks/c"

token() {
	curl -sS -u "$KEY:" -H 'Content-Type: application/json' -d '{"ttl":0}' "$url/upload-tokens" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# check_last SUM: the newest video is complete and holds SUM; then the
# sandbox's files are removed so that the disk does not fill up.
check_last() {
	local got
	got=$(curl -sS "$url/_sandbox/videos" | python3 -c '
import json, sys
v = json.load(sys.stdin)[-1]
print(v["sha256"] if v["complete"] else "incomplete")')
	if [[ $got != "$1" ]]; then
		echo "bench: the last upload is not intact: sandbox says $got, want $1" >&2
		exit 1
	fi
	rm -rf "$data/videos"
}

# curl_loop FILE SIZE TOKEN: send the pre-cut chunks in order, one curl each,
# with Content-Range, the first without videoId and the rest with it.
curl_loop() {
	local size=$2 tok=$3 from=0 vid= c n to
	for c in "$work"/chunks/c*; do
		n=$(stat -c %s "$c")
		to=$((from + n - 1))
		if [[ -z $vid ]]; then
			vid=$(curl -sS --fail -H 'Expect:' -H "Content-Range: bytes $from-$to/$size" \
				-F "file=@$c;filename=big.bin" "$url/upload?token=$tok" |
				sed -E 's/.*"videoId":"([^"]+)".*/\1/')
		else
			curl -sS --fail -o /dev/null -H 'Expect:' -H "Content-Range: bytes $from-$to/$size" \
				-F "videoId=$vid" -F "file=@$c;filename=big.bin" "$url/upload?token=$tok"
		fi
		from=$((to + 1))
	done
}
export -f curl_loop
export work url

results=$work/results.tsv
: >"$results"

# run NAME BYTES SUM COMMAND: time COMMAND (a bash snippet, $TOKEN set to a
# fresh token), record seconds and peak RSS, and check the upload.
run() {
	local name=$1 bytes=$2 sum=$3 cmd=$4 tok out
	tok=$(token)
	out=$work/time.out
	if ! TOKEN=$tok /usr/bin/time -f '%e %M %U %S' -o "$out" bash -c "$cmd" >"$work/cmd.out" 2>"$work/cmd.err"; then
		echo "bench: $name failed:" >&2
		cat "$work/cmd.err" >&2
		exit 1
	fi
	check_last "$sum"
	read -r secs rss user sys <"$out"
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$bytes" "$secs" "$rss" "$(python3 -c "print($user + $sys)")" >>"$results"
	log "$name: ${secs}s, peak RSS ${rss} KiB, CPU ${user}s user ${sys}s system"
}
export bin

big_bytes=$((SIZE_MIB << 20))
small_bytes=$((CEILING_MIB << 20))
up="\"$bin\" upload --base-url $url --token \"\$TOKEN\" --quiet --chunk-size ${CHUNK_MIB}MiB"

for rep in $(seq "$REPS"); do
	log "round $rep of $REPS"
	run "avupload file" "$big_bytes" "$big_sum" "$up \"$work/big.bin\""
	run "curl loop" "$big_bytes" "$big_sum" "curl_loop \"$work/big.bin\" $big_bytes \"\$TOKEN\""
	run "avupload stdin" "$big_bytes" "$big_sum" "cat \"$work/big.bin\" | $up -"
	run "curl loop (2)" "$big_bytes" "$big_sum" "curl_loop \"$work/big.bin\" $big_bytes \"\$TOKEN\""
	run "avupload 200 MiB" "$small_bytes" "$small_sum" "$up \"$work/small.bin\""
	run "curl single POST 200 MiB" "$small_bytes" "$small_sum" \
		"curl -sS --fail -o /dev/null -H 'Expect:' -F \"file=@$work/small.bin;filename=small.bin\" \"$url/upload?token=\$TOKEN\""
	for c in 1 2 4; do
		run "avupload c$c" "$big_bytes" "$big_sum" "$up --concurrency $c \"$work/big.bin\""
	done
done

log "minting $TOKENS tokens"
python3 - "$url" "$KEY" "$TOKENS" <<'EOF'
import base64, http.client, sys, urllib.parse
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
auth = "Basic " + base64.b64encode((key + ":").encode()).decode()
for _ in range(n):
    conn.request("POST", "/upload-tokens", body=b'{"ttl":0}',
                 headers={"Authorization": auth, "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit("minting a token: %d" % r.status)
EOF
list_count() {
	curl -sS "$url/_sandbox/stats" | python3 -c '
import json, sys
print(json.load(sys.stdin)["operations"].get("listUploadTokens", {}).get("total", 0))'
}
for rep in $(seq "$REPS"); do
	before=$(list_count)
	APIVIDEO_API_KEY=$KEY /usr/bin/time -f '%e %M' -o "$work/time.out" \
		"$bin" token list --all --page-size 100 --quiet --base-url "$url" >"$work/tokens.out"
	after=$(list_count)
	listed=$(wc -l <"$work/tokens.out")
	read -r secs rss <"$work/time.out"
	printf 'token list\t%s\t%s\t%s\t0\t%s\n' "$listed" "$secs" "$rss" "$((after - before))" >>"$results"
	log "token list: $listed tokens, $((after - before)) requests, ${secs}s"
done

gobench=
if [[ ${BENCH_GO:-1} == 1 ]]; then
	log "Go benchmarks of the chunk path"
	gobench=$("$GO" test -run '^$' -bench . -benchmem -count 1 ./wrapper/ 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|ok|FAIL)' || true)
	if compgen -G 'bench/uploadbench/*.go' >/dev/null; then
		log "bench/uploadbench: the library alone, in process, on the ${SIZE_MIB} MiB file"
		gobench+=$'\n\n$ uploadbench -file big.bin'$'\n'$("$GO" run ./bench/uploadbench -url "$url" -api-key "$KEY" -chunk-size $((CHUNK_MIB << 20)) -file "$big" 2>&1 | tail -n 20 || true)
		rm -rf "$data/videos"
	fi
fi

mkdir -p bench/results
report=bench/results/$(date -u +%Y-%m-%d).md
# The stream's memory bound follows the library's default stream concurrency.
stream_concurrency=$("$GO" doc ./wrapper DefaultStreamConcurrency | sed -n 's/.*DefaultStreamConcurrency *= *\([0-9][0-9]*\).*/\1/p')
[[ -n $stream_concurrency ]] || { echo "bench: cannot read wrapper.DefaultStreamConcurrency" >&2; exit 1; }
python3 - "$results" "$REPS" "$SIZE_MIB" "$CEILING_MIB" "$CHUNK_MIB" "$TOKENS" "$stream_concurrency" >"$report" <<'EOF'
import statistics, sys, collections, platform, subprocess, datetime
path, reps, size, ceiling, chunk, tokens, stream_concurrency = sys.argv[1], *map(int, sys.argv[2:])
rows = collections.defaultdict(list)
for line in open(path):
    f = line.rstrip("\n").split("\t")
    rows[f[0]].append(f[1:])
def med(name, i):
    return statistics.median(float(r[i]) for r in rows[name])
def mibs(name):
    return statistics.median(int(r[0]) / float(r[1]) / 2**20 for r in rows[name])
def rss(name):
    return max(int(r[2]) for r in rows[name]) / 1024
def cpu_gib(name):
    return statistics.median(float(r[3]) / (int(r[0]) / 2**30) for r in rows[name])
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print(f"# avupload benchmarks, {now}\n")
print(f"Machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {platform.system()} {platform.release()}.")
print(f"Loopback, one `avupload sandbox --data-dir` (disk storage); {chunk} MiB chunks; median of {reps} alternated runs;")
print("peak RSS is the largest of the runs (KiB from /usr/bin/time, shown in MiB); client CPU is user + system seconds of")
print("the run's processes per GiB sent, median. Every upload was checked by the sandbox's SHA-256.\n")
print("| run | bytes | median s | median MiB/s | client CPU s/GiB | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for name in rows:
    if name == "token list":
        continue
    print(f"| {name} | {rows[name][0][0]} | {med(name, 1):.2f} | {mibs(name):.0f} | {cpu_gib(name):.2f} | {rss(name):.1f} |")
print("\n| comparison | ratio | target |")
print("|---|---|---|")
def ratio(a, b, target, note=""):
    if a in rows and b in rows:
        r = mibs(a) / mibs(b)
        verdict = "met" if r >= target else f"MISSED by {target - r:.2f}"
        print(f"| {a} / {b} (throughput){note} | {r:.2f} | >= {target} ({verdict}) |")
ratio("avupload file", "curl loop", 0.9)
if "avupload file" in rows and "curl loop" in rows:
    a, b = cpu_gib("avupload file"), cpu_gib("curl loop")
    print(f"| avupload file / curl loop (client CPU per GiB, SHA-256 included) | {a / b:.2f} | <= 1.0 "
          f"({'met' if a <= b else f'MISSED by {a / b - 1:.2f}'}) |")
ratio("avupload stdin", "curl loop (2)", 0.9)
ratio("avupload file", "curl single POST 200 MiB", 0.8, f", {size} MiB vs the {ceiling} MiB ceiling")
ratio("avupload 200 MiB", "curl single POST 200 MiB", 0.8, ", same 200 MiB file")
ratio("avupload c2", "avupload c1", 0)
ratio("avupload c4", "avupload c1", 0)
for name in ("avupload file", "avupload 200 MiB", "avupload c1", "avupload c2", "avupload c4"):
    if name in rows:
        r = rss(name)
        print(f"| peak RSS of {name} | {r:.1f} MiB | < 48 MiB from a file ({'met' if r < 48 else f'MISSED by {r - 48:.1f} MiB'}) |")
if "avupload stdin" in rows:
    # A stream holds Concurrency+1 chunk buffers, at the default stream concurrency.
    buffers = stream_concurrency + 1
    r, limit = rss("avupload stdin"), buffers * chunk + 32
    print(f"| peak RSS of avupload stdin | {r:.1f} MiB | < {buffers} chunks + 32 MiB = {limit} MiB from a stream "
          f"({'met' if r < limit else f'MISSED by {r - limit:.1f} MiB'}) |")
if "token list" in rows:
    t = rows["token list"]
    print(f"\nToken listing, `avupload token list --all --page-size 100`: {t[0][0]} tokens listed in "
          f"{statistics.median(float(r[1]) for r in t):.2f} s (median), {t[0][4]} requests, peak RSS {max(int(r[2]) for r in t) / 1024:.1f} MiB.")
EOF
if [[ -n $gobench ]]; then
	printf '\n## Go benchmarks (go test -bench . -benchmem ./wrapper/)\n\n```\n%s\n```\n' "$gobench" >>"$report"
fi
cat "$report"
log "written to $report"
