# End to end with kubectl: a private control plane, the operator, the fake
# Agones (hack/fakeagones) running real game servers, a hall and bots.
# Logs in bin/e2e/. See docs/bench-e2e.md.

##@ End to end

.PHONY: e2e
e2e: build envtest ## Scale a Region up under bot load and back down, with kubectl (hack/e2e.sh; < 5 min).
	E2E_SKIP_BUILD=1 hack/e2e.sh

.PHONY: fakeagones
fakeagones: ## Build bin/fakeagones (the Agones stand-in for node-less clusters).
	go build -o $(BIN)/fakeagones ./hack/fakeagones
