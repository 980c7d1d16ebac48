#!/usr/bin/env bash
# make bench: the short version of every load benchmark in docs/benchmarks.md,
# then the Go micro-benchmarks through benchstat, and one table at the end, so
# a regression shows in one command. Not part of CI (it needs a quiet machine
# for latency; the CPU-per-message figures hold better on a busy one).
#
# Environment: BENCH_DIR (outputs, default bin/bench), BENCH_SHARDS (operator,
# default 1000), BENCH_WATCHERS (hall, default 10000), BENCH_COUNT (go test
# -count, default 5), BENCH_BASE (a micro-benchmark file to compare with;
# default: the previous run's), BENCH_SKIP (space-separated: hall shard login
# operator micro).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${BENCH_DIR:-bin/bench}
shards=${BENCH_SHARDS:-1000}
watchers=${BENCH_WATCHERS:-10000}
count=${BENCH_COUNT:-5}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da
skip=" ${BENCH_SKIP:-} "
mkdir -p "$out"
bins=$out/bin
mkdir -p "$bins"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
want() { [[ $skip != *" $1 "* ]]; }

# Children this script starts, stopped by pid on exit.
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# field FILE REGEX: the first capture group of the first matching line.
field() { sed -nE "s#.*$2.*#\\1#p" "$1" | head -1; }
# hallload_serve NAME ARGS...: hallload serve in the background (its pid last
# in pids), once it printed the address it serves; sets url.
hallload_serve() {
	local name=$1
	shift
	"$bins/hallload" serve "$@" >"$out/$name-serve.out" 2>"$out/$name-serve.err" &
	pids+=($!)
	for _ in $(seq 100); do [[ -s $out/$name-serve.out ]] && break; sleep 0.1; done
	url=$(head -1 "$out/$name-serve.out")
}

log "building gamehall and the load tools into $bins"
go build -o "$bins/" ./cmd/gamehall ./hack/hallload ./hack/shardload ./hack/writefloor ./hack/scalebench

# Two cores or more: pin the system under test and its load generator apart.
ncpu=$(nproc)
pin_sut=() pin_load=() shard_cpus=()
if ((ncpu >= 2)); then
	pin_sut=(taskset -c 0) pin_load=(taskset -c 1-$((ncpu - 1))) shard_cpus=(--shard-cpus 0)
fi

declare -A R # results

if want hall; then
	log "hall: $watchers watchers of a 1,000-room region at 5,000 seat changes/s, 10 s"
	hallload_serve hall -rooms 1000 -changes 5000 -delay 15s
	"$bins/hallload" watch -url "$url" -watchers "$watchers" -sample 100 -duration 10s >"$out/hall-watch.out" 2>&1
	kill "${pids[-1]}"
	R[hall_p99]=$(field "$out/hall-watch.out" 'change→watcher latency.* p99 ([^ ]+) max')
	R[hall_cpu]=$(field "$out/hall-watch.out" 'hall CPU: .*, ([0-9.]+) µs per message')
	R[hall_msgs]=$(field "$out/hall-watch.out" 'messages: ([0-9]+)/s')
	R[hall_mem]=$(field "$out/hall-watch.out" 'hall memory per watcher: .* = ([0-9.]+ KiB)')
fi

if want shard; then
	log "shard: 1,200 players in 3 rooms, chat only, one message per player per 5 s, 10 s (shard on cpu 0)"
	"${pin_load[@]}" "$bins/shardload" --spawn "$bins/gamehall" "${shard_cpus[@]}" --players 1200 --chat-only \
		--chat-interval 5s --duration 10s >"$out/shard.out" 2>"$out/shard.err"
	R[shard_cpu]=$(field "$out/shard.out" 'shard CPU ([0-9.]+) µs per chat delivery')
	R[shard_p99]=$(field "$out/shard.out" 'room chat .* p99=([^;]+);')
	R[shard_rate]=$(field "$out/shard.out" 'chat deliveries +[0-9]+ \(([0-9]+)/s\)')
	log "floor: the same frames to 1,200 loopback sockets, one write per member per 50 ms, 10 s"
	"${pin_sut[@]}" "$bins/writefloor" --reader-cpus "${pin_load[2]:-0}" --tick 50ms --duration 10s >"$out/floor.out" 2>&1
	R[floor]=$(field "$out/floor.out" 'cores; ([0-9.]+) µs per delivery')
fi

if want login; then
	log "login: guest logins against one hall replica and a real Redis, 8 s"
	rport=$(freeport)
	redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.out" 2>&1 &
	pids+=($!)
	rpid=$!
	for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
	hallload_serve login -redis "127.0.0.1:$rport" -changes 0
	spid=${pids[-1]}
	"$bins/hallload" login -url "$url" -concurrency 32 -duration 8s >"$out/login.out" 2>&1
	kill "$spid" "$rpid"
	R[login_rate]=$(field "$out/login.out" '= ([0-9]+)/s')
	R[login_p99]=$(field "$out/login.out" 'p99 ([^ ]+) max')
fi

if want operator; then
	log "operator: 0 → $shards shards, then every shard reports every 5 s for 20 s (test control plane)"
	"$bins/scalebench" -gamehall "$bins/gamehall" -shards "$shards" -report 5s -duration 20s >"$out/operator.out" 2>&1
	R[op_scale]=$(field "$out/operator.out" 'all GameServers exist after ([^,]+),')
	R[op_p99]=$(field "$out/operator.out" 'reconcile roomshard: .* p99 ≤ ([^ ]+)')
	R[op_region_p99]=$(field "$out/operator.out" 'reconcile region: .* p99 ≤ ([^ ]+)')
	R[op_writes]=$(field "$out/operator.out" 'RoomShard status [0-9.]+/s \(([0-9.]+) per report\)')
	R[op_cpu]=$(field "$out/operator.out" 'operator CPU: ([0-9.]+%)')
fi

if want micro; then
	log "Go micro-benchmarks, -count $count"
	go test -run '^$' -bench . -benchmem -count "$count" -benchtime 200ms \
		./protocol/ ./game/doudizhu/ ./scaling/ ./ticket/ ./hall/ ./gameserver/ >"$out/micro.new" 2>&1
	base=${BENCH_BASE:-$out/micro.last}
	# One table per unit, time and allocations only, every package in it.
	stat=(-table '' -row .fullname -filter '.unit:(sec/op OR allocs/op)')
	if [[ ! -x bin/benchstat ]]; then
		log "installing benchstat into bin/ (golang.org/x/perf/cmd/benchstat)"
		GOBIN=$PWD/bin go install golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION
	fi
	if [[ -s $base ]]; then
		bin/benchstat "${stat[@]}" "$base" "$out/micro.new" >"$out/micro.benchstat" 2>&1 || true
	else
		bin/benchstat "${stat[@]}" "$out/micro.new" >"$out/micro.benchstat" 2>&1 || true
	fi
	[[ -n ${BENCH_BASE:-} ]] || cp "$out/micro.new" "$out/micro.last"
fi

v() { echo "${R[$1]:-–}"; }
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bin' || echo "+dirty")
echo
echo "make bench — commit $commit, $(date -u +%Y-%m-%dT%H:%MZ), $ncpu CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg), outputs in $out/"
echo
echo "| area | figure | measured | target |"
echo "| --- | --- | --- | --- |"
row() { echo "| $1 | $2 | $3 | $4 |"; }
if want hall; then
	row hall "$watchers watchers, 5,000 changes/s: p99 change→watcher" "$(v hall_p99)" "≤ 1s"
	row hall "hall CPU per message delivered ($(v hall_msgs) messages/s)" "$(v hall_cpu) µs" ""
	row hall "hall memory per watcher" "$(v hall_mem)" ""
fi
if want shard; then
	row shard "chat only, 1,200 players: shard CPU per delivery ($(v shard_rate)/s)" "$(v shard_cpu) µs" "≤ 3 µs"
	row shard "chat only: p99 per delivery" "$(v shard_p99)" "≤ 100ms"
	row shard "floor: same frames, 1,200 sockets, 50 ms tick (hack/writefloor)" "$(v floor) µs" ""
fi
if want login; then
	row login "guest logins/s, one replica, real Redis (p99 $(v login_p99))" "$(v login_rate)/s" "≥ 5,000/s"
fi
if want operator; then
	row operator "0 → $shards shards: all GameServers exist" "$(v op_scale)" "< 47s"
	row operator "reconcile p99, RoomShard ($shards shards reporting every 5 s)" "≤ $(v op_p99)" "≤ 100ms"
	row operator "reconcile p99, Region" "≤ $(v op_region_p99)" ""
	row operator "RoomShard status writes per report (operator CPU $(v op_cpu) of a core)" "$(v op_writes)" "≤ 1"
fi
if want micro; then
	echo
	echo "Go micro-benchmarks (benchstat; compared with ${BENCH_BASE:-the previous make bench} when there is one):"
	cat "$out/micro.benchstat"
fi
