# The admin path end to end (test/e2e, package internal/e2e): a real etcd and
# kube-apiserver, the node stand-in internal/fakenode running every pod as
# processes in network namespaces (needs root and iproute2), make deploy,
# the Redis and the samples applied with kubectl (PostgreSQL: store/pgtest on
# the node's address), bots through the Hall's
# Service. Logs in bin/e2e/.

##@ End to end

E2E_TEST_FLAGS ?= -count=1 -v

.PHONY: e2e-smoke
e2e-smoke: build kubectl-plugin envtest ## The admin path end to end, CI-sized (test/e2e; about 5 min): deploy, samples, bots, scale out and back.
	@hack/ensure-deps.sh redis-server postgres ip
	go test -tags e2e $(E2E_TEST_FLAGS) -timeout 12m -run TestAdminPath ./test/e2e/

.PHONY: e2e
e2e: build kubectl-plugin envtest ## The admin path end to end, full size (more players; E2E_FULL=1).
	@hack/ensure-deps.sh redis-server postgres ip
	E2E_FULL=1 go test -tags e2e $(E2E_TEST_FLAGS) -timeout 20m -run TestAdminPath ./test/e2e/

.PHONY: test-faults
test-faults: build envtest ## The fault-injection suite (test/e2e TestFaults; about 8 min): shard/Redis/operator/API server/hall faults under bot load, invariants checked all along.
	@hack/ensure-deps.sh redis-server postgres ip
	go test -tags e2e $(E2E_TEST_FLAGS) -timeout 15m -run TestFaults ./test/e2e/
