#!/usr/bin/env bash
# A local control plane for people and end-to-end scripts: etcd + kube-apiserver
# (built by `make envtest`), the gamehall and Agones CRDs installed, and a
# kubeconfig at bin/dev-cluster/kubeconfig. No nodes and no controllers run:
# run `gamehall operator` against it to see the operator work.
#   hack/dev-cluster.sh up | down | status
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.37.1}
bin=$root/bin/k8s/$K8S_VERSION
dir=$root/bin/dev-cluster
ETCD_PORT=${DEV_ETCD_PORT:-12379}
API_PORT=${DEV_API_PORT:-16443}
export KUBECONFIG=$dir/kubeconfig

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

up() {
  for b in etcd kube-apiserver kubectl; do
    [ -x "$bin/$b" ] || { echo "missing $bin/$b: run 'make envtest' first" >&2; exit 1; }
  done
  if running kube-apiserver; then echo "dev cluster already running: export KUBECONFIG=$KUBECONFIG"; return; fi
  mkdir -p "$dir/etcd" "$dir/certs"
  [ -f "$dir/sa.key" ] || openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  [ -f "$dir/token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/token"
  echo "$(cat "$dir/token"),admin,admin,system:masters" > "$dir/tokens.csv"

  "$bin/etcd" --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
    --unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
  echo $! > "$dir/etcd.pid"
  "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 --secure-port "$API_PORT" --cert-dir "$dir/certs" \
    --token-auth-file "$dir/tokens.csv" --authorization-mode RBAC \
    --service-account-key-file "$dir/sa.key" --service-account-signing-key-file "$dir/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range 10.96.0.0/16 \
    --endpoint-reconciler-type none --disable-admission-plugins ServiceAccount >"$dir/kube-apiserver.log" 2>&1 &
  echo $! > "$dir/kube-apiserver.pid"

  cat >"$KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: "$(cat "$dir/token")"}
contexts:
- name: dev
  context: {cluster: dev, user: admin, namespace: default}
current-context: dev
KC
  echo -n "waiting for the API server"
  for _ in $(seq 1 120); do
    if "$bin/kubectl" get --raw /readyz >/dev/null 2>&1; then break; fi
    running kube-apiserver || { echo; echo "kube-apiserver exited; see $dir/kube-apiserver.log" >&2; tail -5 "$dir/kube-apiserver.log" >&2; exit 1; }
    echo -n .; sleep 1
  done
  echo
  "$bin/kubectl" apply --server-side -f "$root/config/crd/bases" -f "$root/config/agones/gameserver-crd.yaml" >/dev/null
  # A new CRD has no conditions until the API server has looked at it, and
  # `kubectl wait --for condition=established` fails on it then: poll until
  # every CRD says Established=True.
  for _ in $(seq 1 60); do
    out=$("$bin/kubectl" get crd -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\n"}{end}') || out="(API server unreachable)"
    pending=$(printf '%s\n' "$out" | grep -v '=True$' || true)
    [ -z "$pending" ] && break
    sleep 1
  done
  [ -z "$pending" ] || { echo "CRDs not established after 60 s: $pending" >&2; exit 1; }
  echo "dev cluster up: API server https://127.0.0.1:$API_PORT, CRDs installed"
  echo "  export KUBECONFIG=$KUBECONFIG PATH=$bin:\$PATH"
  echo "  kubectl apply -f config/samples/ && kubectl get gamehall"
}

down() {
  for p in kube-apiserver etcd; do
    if running "$p"; then kill "$(cat "$dir/$p.pid")"; fi
  done
  sleep 1
  rm -rf "$dir"
  echo "dev cluster stopped and its data deleted"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running kube-apiserver; then echo "running: export KUBECONFIG=$KUBECONFIG"; else echo "not running"; fi ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
