#!/usr/bin/env bash
# End to end with kubectl (make e2e): a private control plane (etcd +
# kube-apiserver, its own ports and bin/e2e/ dir, never the developer's
# `make dev-cluster`), a real Redis, `gamehall operator`, hack/fakeagones (the
# Agones controller + SDK sidecar, running real `gamehall gameserver`
# processes, as there are no nodes), a Region, a `gamehall hall` process
# listing it, and `gamehall bot` players. It asserts that the Region scales up
# under load and drains back to minShards once the players leave.
#
# Everything it starts is stopped on exit (trap); logs stay in bin/e2e/.
# Knobs (env): E2E_PLAYERS (90), E2E_LOAD (60s), E2E_MIN_PEAK_SHARDS (3),
# E2E_TIMEOUT (290 s, whole run after the build), E2E_SKIP_BUILD=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
K8S_VERSION=${K8S_VERSION:-1.37.1}
k8s=$root/bin/k8s/$K8S_VERSION
dir=$root/bin/e2e
PLAYERS=${E2E_PLAYERS:-90}
LOAD=${E2E_LOAD:-60s}
MIN_PEAK=${E2E_MIN_PEAK_SHARDS:-3}
TIMEOUT=${E2E_TIMEOUT:-290}
NS=gamehall-e2e
REGION=e2e-zone

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%6.1fs", b-a}'; }
say() { echo "[e2e $(elapsed)] $*"; }
die() { echo "[e2e $(elapsed)] FAIL: $*" >&2; exit 1; }

if [ "${E2E_SKIP_BUILD:-}" != 1 ]; then
  say "make build envtest"
  make --no-print-directory build envtest >/dev/null
fi
go build -o bin/fakeagones ./hack/fakeagones
for b in "$k8s/etcd" "$k8s/kube-apiserver" "$k8s/kubectl" bin/gamehall bin/fakeagones; do
  [ -x "$b" ] || die "missing $b (make build envtest)"
done
command -v redis-server >/dev/null || die "redis-server is missing: apt-get install redis-server"

rm -rf "$dir"
mkdir -p "$dir/etcd" "$dir/certs" "$dir/keys" "$dir/gameservers"
t0=$(date +%s.%N) # timings below start after the build

# --- cleanup: every process we start is in pids, stopped in reverse order.
pids=()
names=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    local p=${pids[$i]}
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
      if kill -0 "$p" 2>/dev/null; then
        echo "[e2e] ${names[$i]} (pid $p) ignored SIGTERM: SIGKILL" >&2
        kill -KILL "$p" 2>/dev/null || true
      fi
    fi
  done
  wait 2>/dev/null || true
  if [ $rc -eq 0 ]; then echo "[e2e] PASS; logs in $dir"; else echo "[e2e] exit $rc; logs in $dir" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bg() { # bg NAME CMD...: start CMD in the background, output to $dir/NAME.log
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  pids+=($!); names+=("$name")
}
# The whole run is bounded: the watchdog ends us (cleanup runs) after TIMEOUT s.
( trap 'kill $sp 2>/dev/null; exit 0' TERM
  sleep "$TIMEOUT" & sp=$!; wait $sp
  echo "[e2e] FAIL: timed out after ${TIMEOUT}s" >&2; kill -TERM $$ ) &
pids=($! "${pids[@]}"); names=(watchdog "${names[@]}")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port)
REDIS_PORT=$(free_port); HALL_PORT=$(free_port); OP_PROBE=$(free_port)

# --- control plane (as hack/dev-cluster.sh, in bin/e2e on free ports)
openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
bg etcd "$k8s/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --unsafe-no-fsync
bg kube-apiserver "$k8s/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$dir/certs" \
  --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
  --service-account-key-file "$dir/sa.key" --service-account-signing-key-file "$dir/sa.key" \
  --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none --disable-admission-plugins ServiceAccount
api_pid=${pids[-1]}
export KUBECONFIG=$dir/kubeconfig
cat >"$KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin, namespace: $NS}
current-context: e2e
KC
kubectl() { "$k8s/kubectl" "$@"; }
say "control plane starting (etcd :$ETCD_PORT, kube-apiserver :$API_PORT)"
for _ in $(seq 1 120); do
  kubectl get --raw /readyz >/dev/null 2>&1 && break
  kill -0 "$api_pid" 2>/dev/null || { tail -5 "$dir/kube-apiserver.log" >&2; die "kube-apiserver exited"; }
  sleep 1
done
kubectl get --raw /readyz >/dev/null || die "kube-apiserver not ready after 120 s"
kubectl apply --server-side -f config/crd/bases -f config/agones/gameserver-crd.yaml >/dev/null
kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
kubectl create namespace "$NS" >/dev/null
say "control plane up, CRDs installed"

# --- Redis, signing key, operator, fakeagones
bg redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir"
head -c 48 /dev/urandom | base64 -w0 >"$dir/keys/k1"
kubectl -n "$NS" create secret generic gamehall-signing-keys --from-file=k1="$dir/keys/k1" >/dev/null
bg operator bin/gamehall operator --kubeconfig "$KUBECONFIG" --namespace "$NS" \
  --health-probe-bind-address "127.0.0.1:$OP_PROBE" --replace-backoff 1s -v
bg fakeagones bin/fakeagones --kubeconfig "$KUBECONFIG" --namespace "$NS" --gamehall bin/gamehall \
  --log-dir "$dir/gameservers" --grace 10s
say "redis :$REDIS_PORT, operator and fakeagones started"

# --- the Region: 2 rooms × 20 seats = 40 per shard, aim at 50 % → 20 players a shard.
cat >"$dir/region.yaml" <<YAML
# The shards take Redis and the signing keys from the Hall that lists the
# Region (D1). Its replicas run as a local process below, hence 0 here.
apiVersion: gamehall.dev/v1alpha1
kind: Hall
metadata:
  name: e2e
  namespace: $NS
spec:
  regionSelector: {matchLabels: {gamehall.dev/game: doudizhu}}
  replicas: 0
  login: {signingKeySecretName: gamehall-signing-keys, guest: true}
  presence: {redisAddress: "127.0.0.1:$REDIS_PORT"}
---
apiVersion: gamehall.dev/v1alpha1
kind: Region
metadata:
  name: $REGION
  namespace: $NS
  labels: {gamehall.dev/game: doudizhu}
spec:
  game: doudizhu
  displayName: "Dou Dizhu · e2e"
  roomsPerShard: 2
  roomCapacity: 20
  tablesPerRoom: 6
  minShards: 1
  maxShards: 5
  scaling: {targetOccupancyPercent: 50, scaleDownDelay: 10s}
YAML
kubectl apply -f "$dir/region.yaml" >/dev/null
say "Hall e2e and Region $REGION applied"

jp() { kubectl -n "$NS" get region "$REGION" -o "jsonpath=$1" 2>/dev/null || true; }
wait_for() { # wait_for SECONDS WHAT CMD...: poll CMD every second
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 1; done
  die "$what: not within ${n}s"
}
ready1() { [ "$(jp '{.status.readyShards}')" -ge 1 ] 2>/dev/null; }
wait_for 60 "first shard Ready" ready1
say "first shard Ready: $(kubectl -n "$NS" get roomshards --no-headers | tr -s ' ')"

# --- the hall, as a local process against the cluster
bg hall bin/gamehall hall --listen "127.0.0.1:$HALL_PORT" --signing-keys "$dir/keys" --guest \
  --redis "127.0.0.1:$REDIS_PORT" --namespace "$NS" --advertise-url "http://127.0.0.1:$HALL_PORT" --name e2e-hall
hall_ready() { curl -fsS "http://127.0.0.1:$HALL_PORT/readyz" >/dev/null 2>&1; }
wait_for 30 "hall ready on :$HALL_PORT" hall_ready
say "hall ready on :$HALL_PORT"

# --- load
say "bots: $PLAYERS players for $LOAD"
t_load=$(date +%s)
"$root/bin/gamehall" bot --hall "http://127.0.0.1:$HALL_PORT" --players "$PLAYERS" --duration "$LOAD" \
  --region "$REGION" --ramp 10 --think 300ms --break 2s --leave-grace 15s >"$dir/bot.log" 2>"$dir/bot.err" &
bot_pid=$!
pids+=($bot_pid); names+=(bot)
# The hall follows each ready shard's occupancy stream at its pod IP
# (fakeagones forwards 127.0.0.N:7001 to the process): count the streams.
hall_metric() { curl -fsS "http://127.0.0.1:$HALL_PORT/metrics" 2>/dev/null | awk -v m="$1" '$1==m{print $2+0}' || true; }
peak=0; peak_at=; snap=$dir/loaded.txt; max_streams=0
while kill -0 "$bot_pid" 2>/dev/null; do
  sleep 5
  n=$(jp '{.status.shards}'); n=${n:-0}
  streams=$(hall_metric gamehall_hall_occupancy_streams); streams=${streams:-0}
  [ "$streams" -gt "$max_streams" ] && max_streams=$streams
  line="t+$(( $(date +%s) - t_load ))s shards=$n ready=$(jp '{.status.readyShards}') desired=$(jp '{.status.desiredShards}') players=$(jp '{.status.players}') occupancy=$(jp '{.status.occupancy}') hall: rooms=$(hall_metric gamehall_hall_rooms) streams=$streams stream-errors=$(hall_metric gamehall_hall_occupancy_stream_errors_total)"
  echo "$line" >>"$dir/timeline.txt"
  say "$line"
  if [ "$n" -gt "$peak" ]; then
    peak=$n; peak_at=$(( $(date +%s) - t_load ))
    { echo "# t+${peak_at}s after the bots started"; kubectl -n "$NS" get regions,roomshards -o wide; } >"$snap" 2>&1
  fi
done
bot_rc=0; wait "$bot_pid" || bot_rc=$?
t_left=$(date +%s)
say "bots done (exit $bot_rc); summary:"
sed 's/^/    /' "$dir/bot.log"
say "kubectl get regions,roomshards while loaded (peak: $peak shards at t+${peak_at}s):"
sed 's/^/    /' "$snap"
[ "$peak" -ge "$MIN_PEAK" ] || die "the Region reached only $peak shards under $PLAYERS players (want ≥ $MIN_PEAK); see $dir/timeline.txt, operator.log"
[ "$max_streams" -ge "$MIN_PEAK" ] || die "the hall followed at most $max_streams shard occupancy streams (want ≥ $MIN_PEAK): see $dir/hall.log"

# --- drain back to minShards
min=$(jp '{.spec.minShards}')
drained() {
  local s; s=$(jp '{.status.shards}')
  local r; r=$(kubectl -n "$NS" get roomshards --no-headers 2>/dev/null | wc -l)
  local g; g=$(kubectl -n "$NS" get gameservers.agones.dev --no-headers 2>/dev/null | wc -l)
  echo "t+$(( $(date +%s) - t_load ))s (drain) shards=$s roomshards=$r gameservers=$g players=$(jp '{.status.players}')" >>"$dir/timeline.txt"
  [ "$s" = "$min" ] && [ "$r" -eq "$min" ] && [ "$g" -eq "$min" ]
}
say "waiting for the Region to drain back to minShards=$min"
wait_for 120 "drain back to $min shard(s)" drained
t_drained=$(date +%s)
say "drained to $min shard(s) $(( t_drained - t_left ))s after the bots left:"
kubectl -n "$NS" get regions,roomshards -o wide | sed 's/^/    /' | tee "$dir/drained.txt"
kubectl -n "$NS" get events --field-selector involvedObject.kind=RoomShard --sort-by=.lastTimestamp 2>/dev/null | tail -15 >"$dir/events.txt" || true
[ "$bot_rc" -eq 0 ] || die "gamehall bot exited $bot_rc (protocol errors or no logins): see $dir/bot.log, $dir/bot.err"
say "PASS: peak $peak shards (hall followed up to $max_streams), back to $min; load ${LOAD}, drain $(( t_drained - t_left ))s"
