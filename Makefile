# gamehall — build, generate, test. `make help` lists the targets.

K8S_VERSION        ?= 1.37.1
CONTROLLER_TOOLS   ?= v0.23.0
KUSTOMIZE_VERSION  ?= v5.8.1
BIN                := $(CURDIR)/bin
K8S_BIN            := $(BIN)/k8s/$(K8S_VERSION)
CONTROLLER_GEN     := $(BIN)/controller-gen-$(CONTROLLER_TOOLS)
KUSTOMIZE          := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)
# Tests find etcd and kube-apiserver here unless KUBEBUILDER_ASSETS is set.
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)
# install/deploy/undeploy use the kubectl on the PATH (kustomize is built in).
KUBECTL            ?= kubectl
GO_TEST_FLAGS      ?= -count=1 -timeout 20m
IMG                ?= gamehall:dev
# System programs the tests start for real; hack/ensure-deps.sh installs them.
TEST_DEPS          := redis-server postgres
# make install-plugin copies the kubectl plugin here.
PLUGIN_DIR         ?= /usr/local/bin

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs, the operator's RBAC and the halls' ClusterRole from the API types and +kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=gamehall-operator crd paths="./api/v1alpha1/..." paths="./controllers/..." paths="./hall/kubesource/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) protocol ## Generate deepcopy code and the protocol's Go code (hack/make/protocol.mk).
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the tree.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: ## Fail when generated files (CRDs, RBAC, deepcopy, protocol), formatting or go.mod are stale.
	@$(MAKE) --no-print-directory manifests generate
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { echo "gofmt needed on:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- api config protocol || { echo "generated files are stale: run 'make manifests generate' and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- api config protocol)" || { echo "untracked generated files:"; git status --porcelain -- api config protocol; exit 1; }
	@go mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; go mod tidy -diff; exit 1; }

.PHONY: test
test: envtest ## Run every test: unit tests, envtest suites (real kube-apiserver + etcd), real Redis, real sockets.
	@hack/ensure-deps.sh $(TEST_DEPS)
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test-race
test-race: envtest ## Run the data-plane tests (shard, client, hall, presence, login, local) under the race detector.
	go test -race $(GO_TEST_FLAGS) ./gameserver/... ./client/... ./protocol/... ./hall/... ./presence/... ./login/... ./local/...

.PHONY: test-race-shard
test-race-shard: ## Run the shard's, the protocol's and the client's tests under the race detector (CI).
	go test -race $(GO_TEST_FLAGS) ./gameserver/... ./client/... ./protocol/...

##@ Build

.PHONY: build
build: ## Build bin/gamehall.
	go build -o $(BIN)/gamehall ./cmd/gamehall

.PHONY: kubectl-plugin
kubectl-plugin: ## Build the kubectl plugin bin/kubectl-gamehall (`kubectl gamehall rooms REGION`, `kubectl gamehall top`).
	go build -o $(BIN)/kubectl-gamehall ./cmd/kubectl-gamehall

.PHONY: install-plugin
install-plugin: kubectl-plugin ## Copy bin/kubectl-gamehall into PLUGIN_DIR (default /usr/local/bin; any directory on your PATH works).
	@mkdir -p "$(PLUGIN_DIR)" && install -m 0755 $(BIN)/kubectl-gamehall "$(PLUGIN_DIR)/kubectl-gamehall" && \
	  echo "installed $(PLUGIN_DIR)/kubectl-gamehall: try 'kubectl gamehall help'" && \
	  { command -v kubectl-gamehall >/dev/null 2>&1 || echo "note: $(PLUGIN_DIR) is not on your PATH; kubectl finds plugins only there: add it, or pass PLUGIN_DIR=<a directory on your PATH>" >&2; }

.PHONY: local
local: build ## Run the whole platform on this machine from config/samples (gamehall local).
	$(BIN)/gamehall local -f config/samples

.PHONY: docker-build
docker-build: ## Build the container image $(IMG) (needs a Docker engine).
	docker build -t $(IMG) .

##@ Test control plane (built from the Go module proxy, no downloads elsewhere)

.PHONY: envtest
envtest: $(K8S_BIN)/kube-apiserver $(K8S_BIN)/etcd $(K8S_BIN)/kubectl ## Build etcd, kube-apiserver and kubectl $(K8S_VERSION) into bin/k8s (cached).

$(K8S_BIN)/etcd $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubectl: hack/k8s/go.mod hack/k8s/go.sum
	@echo "building the test control plane (etcd, kube-apiserver, kubectl $(K8S_VERSION)) from source: a few minutes, once"
	@mkdir -p $(K8S_BIN)
	cd hack/k8s && go build -trimpath -o $(K8S_BIN)/etcd ./etcd
	cd hack/k8s && go build -trimpath -o $(K8S_BIN)/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
	cd hack/k8s && go build -trimpath -o $(K8S_BIN)/kubectl k8s.io/kubernetes/cmd/kubectl
	@touch $(K8S_BIN)/etcd $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubectl

.PHONY: dev-cluster
dev-cluster: envtest manifests ## Start a local etcd + kube-apiserver with the CRDs installed; kubeconfig in bin/dev-cluster/kubeconfig.
	hack/dev-cluster.sh up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the dev cluster and delete its data.
	hack/dev-cluster.sh down

##@ Deployment (against the cluster of your kubectl context; install Agones first)

.PHONY: kubectl-found
kubectl-found:
	@command -v $(KUBECTL) >/dev/null 2>&1 || { echo "no '$(KUBECTL)' on the PATH: install kubectl (1.27 or later; kustomize is built in) or pass KUBECTL=/path/to/kubectl. ('make envtest' builds one into $(K8S_BIN) for the test control plane.)" >&2; exit 1; }

.PHONY: install
install: kubectl-found ## Install the CRDs (config/crd).
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: kubectl-found ## Remove the CRDs (and every Region, RoomShard and Hall with them).
	$(KUBECTL) delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: kubectl-found $(KUSTOMIZE) ## Deploy the CRDs, RBAC and operator (config/default) with image IMG=$(IMG); shards and halls run the same image.
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp -r config "$$tmp/" && \
	  (cd "$$tmp/config/manager" && $(KUSTOMIZE) edit set image gamehall=$(IMG)) && \
	  echo "deploying image $(IMG) (config/default)" && \
	  $(KUBECTL) apply --server-side -k "$$tmp/config/default"

.PHONY: undeploy
undeploy: kubectl-found ## Remove the operator, its RBAC and the CRDs (and every Region, RoomShard and Hall with them).
	$(KUBECTL) delete --ignore-not-found -k config/default

$(KUSTOMIZE):
	GOBIN=$(BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(BIN)/kustomize $(KUSTOMIZE)

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS)
	mv $(BIN)/controller-gen $(CONTROLLER_GEN)

-include hack/make/*.mk
