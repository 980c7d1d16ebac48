# Regenerates protocol/pb from protocol/pb/gamehall.proto with Debian's protoc
# and a pinned protoc-gen-go, so generated code is reproducible.
PROTOC ?= /usr/bin/protoc
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO := $(CURDIR)/bin/protoc-gen-go

$(PROTOC_GEN_GO):
	GOBIN=$(CURDIR)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

.PHONY: protocol
protocol: $(PROTOC_GEN_GO)
	@hack/ensure-deps.sh protoc
	$(PROTOC) --plugin=protoc-gen-go=$(PROTOC_GEN_GO) -I protocol/pb \
		--go_out=protocol/pb --go_opt=paths=source_relative protocol/pb/gamehall.proto
