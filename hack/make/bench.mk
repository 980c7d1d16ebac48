# Benchmarks: the short version of every load benchmark of docs/benchmarks.md
# in one table, and the Go micro-benchmarks through benchstat. Not part of CI.

##@ Benchmarks

.PHONY: bench
bench: envtest ## Short runs of every benchmark (hall fan-out, shard CPU per delivery, logins/s, operator reconcile p99) in one table, Go micro-benchmarks via benchstat (a few minutes; take flock -x /tmp/gamehall-quiet.lock on a shared machine).
	@hack/ensure-deps.sh redis-server
	@hack/bench.sh
