#!/usr/bin/env bash
# End-to-end sync benchmark: builds qgraph in release mode, serves a generated
# subscription from `qgraph sim` on loopback, registers it as an instance and
# times `qgraph integration run`: the first sync, then an unchanged re-sync.
# Prints detections per second, the peak resident memory of the first sync
# process, the database size and the time of the re-sync.
#
# Usage (from the repository root):
#   scripts/bench-e2e.sh [HOSTS] [DETECTIONS_PER_HOST]
# Defaults: 10 000 hosts and a mean of 100 detections per host (about one
# million detections). Every detection type and severity is synced, and the
# windows reach back 3650 days (the maximum), so the run reads the whole
# detection list rather than the few detections updated in the last 7 days.
#
# Environment: CARGO_TARGET_DIR (default: target), KEEP_DIR=1 to keep the
# temporary directory with the database and logs.
# Goals: 50 000 detections/s or more and a peak RSS of at most 300 MB.

set -euo pipefail

hosts="${1:-10000}"
per_host="${2:-100}"
target_dir="${CARGO_TARGET_DIR:-target}"
qgraph="$target_dir/release/qgraph"
work_dir="$(mktemp -d -t qgraph-bench-e2e.XXXXXX)"
db="$work_dir/graph.db"
sim_pid=""

cleanup() {
    if [[ -n "$sim_pid" ]]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP_DIR:-0}" == "1" ]]; then
        echo "kept $work_dir"
    else
        rm -rf "$work_dir"
    fi
}
trap cleanup EXIT

echo "== building qgraph (release)"
cargo build --release --quiet -p qgraph-cli --bin qgraph

# Day 0 is yesterday, so no generated scan lies after the sync's clock.
start_date="$(date -u -d yesterday +%Y-%m-%d)"
sim_flags=(--hosts "$hosts" --detections-per-host "$per_host" --seed 3 --start-date "$start_date")

echo "== ground truth"
window_days=3650
since="$(date -u -d "$window_days days ago" +%Y-%m-%dT%H:%M:%SZ)"
"$qgraph" sim --summary "${sim_flags[@]}" \
    --vm-processed-after "$since" --detection-updated-since "$since" >"$work_dir/summary.json"
expected="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["detections"])' "$work_dir/summary.json")"
echo "the simulator serves $expected detections of $hosts hosts"

echo "== starting the simulator"
"$qgraph" sim "${sim_flags[@]}" --port 0 >"$work_dir/sim.out" 2>"$work_dir/sim.err" &
sim_pid=$!
api_url=""
for _ in $(seq 1 100); do
    api_url="$(head -n 1 "$work_dir/sim.out" 2>/dev/null || true)"
    [[ -n "$api_url" ]] && break
    if ! kill -0 "$sim_pid" 2>/dev/null; then
        echo "error: the simulator exited: $(cat "$work_dir/sim.err")" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$api_url" ]]; then
    echo "error: the simulator printed no base URL within 10 s" >&2
    exit 1
fi
echo "simulator at $api_url"

echo "== adding the instance"
QGRAPH_BENCH_PASSWORD=qgraph-sim-password "$qgraph" integration add bench \
    --db "$db" \
    --qualys-username qgraph-sim \
    --password-env QGRAPH_BENCH_PASSWORD \
    --qualys-api-url "$api_url" \
    --allow-loopback-api-url \
    --vmdr-finding-severities 1,2,3,4,5 \
    --vmdr-finding-types Info,Potential,Confirmed \
    --min-scanned-since-days "$window_days" \
    --min-findings-since-days "$window_days" \
    --ingest-web-app-scans true

echo "== syncing (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
/usr/bin/time -v -o "$work_dir/time.txt" \
    "$qgraph" integration run bench --db "$db" --quiet >"$work_dir/run.out" 2>"$work_dir/run.err" || status=$?
cat "$work_dir/run.out"
if [[ "$status" -ne 0 ]]; then
    echo "error: the sync ended with exit status $status" >&2
    cat "$work_dir/run.err" >&2
    exit 1
fi

echo "== syncing again, nothing changed (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
status=0
/usr/bin/time -v -o "$work_dir/time2.txt" \
    "$qgraph" integration run bench --db "$db" --quiet >"$work_dir/run2.out" 2>"$work_dir/run2.err" || status=$?
if [[ "$status" -ne 0 ]]; then
    echo "error: the second sync ended with exit status $status" >&2
    cat "$work_dir/run2.err" >&2
    exit 1
fi
grep -E '^ *entities:' "$work_dir/run2.out" || true
resync_elapsed="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work_dir/time2.txt")"

elapsed="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work_dir/time.txt")"
max_rss_kb="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work_dir/time.txt")"
user_secs="$(sed -n 's/.*User time (seconds): //p' "$work_dir/time.txt")"
system_secs="$(sed -n 's/.*System time (seconds): //p' "$work_dir/time.txt")"
findings="$(sed -n 's/.*fetch-scanned-host-detections: [A-Z_]* (.*qualys_host_finding \([0-9]*\).*/\1/p' "$work_dir/run.out" | head -n 1)"
db_bytes="$(du -cb "$db"* | tail -n 1 | cut -f1)"

python3 - "$elapsed" "$expected" "${findings:-0}" "$max_rss_kb" "$db_bytes" "$user_secs" "$system_secs" "$resync_elapsed" <<'EOF'
import sys
elapsed, expected, findings, rss_kb, db_bytes, user, system, resync = sys.argv[1:]


def seconds(clock):
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


secs = seconds(elapsed)
expected, findings = int(expected), int(findings)
print("== result")
print(f"wall time:          {secs:.1f} s (user {user} s, system {system} s)")
print(f"detections served:  {expected}")
print(f"findings stored:    {findings}")
print(f"detections/s:       {findings / secs:,.0f} stored, {expected / secs:,.0f} served (goal 50,000)")
print(f"peak RSS:           {int(rss_kb) / 1024:.0f} MiB (goal 300 MB)")
print(f"database size:      {int(db_bytes) / 1e6:.0f} MB")
print(f"unchanged re-sync:  {seconds(resync):.1f} s ({seconds(resync) / secs:.2f} of the first sync)")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
