package fakenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	"github.com/gamehall/gamehall/gameserver/agonessdk"
)

// Sidecar serves the Agones SDK REST API (shared/agones/sdk.swagger.json,
// beta.swagger.json) for one game server, reading and writing its
// GameServer. Answers and errors have the grpc-gateway's JSON shape: int64
// as strings, snake_case names, errors as {"code", "message"}.
type Sidecar struct {
	Client client.Client
	Key    types.NamespacedName
	Log    logr.Logger
}

// gRPC codes the gateway maps errors to (google.golang.org/grpc/codes).
const (
	codeInvalidArgument = 3
	codeNotFound        = 5
	codeOutOfRange      = 11
	codeInternal        = 13
)

type sdkError struct {
	code   int
	status int
	msg    string
}

func (e *sdkError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &sdkError{codeInvalidArgument, http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (s *Sidecar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var (
		out any = struct{}{}
		err error
	)
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/ready":
		err = s.setState(ctx, agonesv1.GameServerStateRequestReady)
	case r.Method == http.MethodPost && path == "/allocate":
		err = s.setState(ctx, agonesv1.GameServerStateAllocated)
	case r.Method == http.MethodPost && path == "/reserve":
		err = s.setState(ctx, agonesv1.GameServerStateReserved)
	case r.Method == http.MethodPost && path == "/shutdown":
		err = s.shutdown(ctx)
	case r.Method == http.MethodPost && path == "/health":
		// Pings are accepted; this fake sets no health deadline.
		_, err = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
	case r.Method == http.MethodGet && path == "/gameserver":
		out, err = s.gameServer(ctx)
	case r.Method == http.MethodPut && (path == "/metadata/label" || path == "/metadata/annotation"):
		err = s.metadata(ctx, r, strings.TrimPrefix(path, "/metadata/"))
	case strings.HasPrefix(path, "/v1beta1/counters/"):
		name := strings.TrimPrefix(path, "/v1beta1/counters/")
		switch r.Method {
		case http.MethodGet:
			out, err = s.counter(ctx, name)
		case http.MethodPatch:
			out, err = s.updateCounter(ctx, r, name)
		default:
			err = &sdkError{codeNotFound, http.StatusMethodNotAllowed, "method not allowed: " + r.Method}
		}
	default:
		err = &sdkError{codeNotFound, http.StatusNotFound, fmt.Sprintf("fakenode: no SDK endpoint %s %s", r.Method, path)}
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var se *sdkError
		if !errors.As(err, &se) {
			se = &sdkError{codeInternal, http.StatusInternalServerError, err.Error()}
			if errors.Is(err, errGone) {
				se = &sdkError{codeNotFound, http.StatusNotFound, err.Error()}
			}
		}
		s.Log.V(1).Info("SDK call failed", "method", r.Method, "path", path, "err", se.msg)
		w.WriteHeader(se.status)
		json.NewEncoder(w).Encode(map[string]any{"code": se.code, "message": se.msg, "details": []any{}})
		return
	}
	json.NewEncoder(w).Encode(out)
}

func (s *Sidecar) get(ctx context.Context) (*agonesv1.GameServer, error) {
	var gs agonesv1.GameServer
	if err := s.Client.Get(ctx, s.Key, &gs); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, errGone
		}
		return nil, err
	}
	return &gs, nil
}

func (s *Sidecar) setState(ctx context.Context, st agonesv1.GameServerState) error {
	gs, err := s.get(ctx)
	if err != nil {
		return err
	}
	switch gs.Status.State {
	case agonesv1.GameServerStateShutdown, agonesv1.GameServerStateUnhealthy, agonesv1.GameServerStateError:
		// Agones ignores state changes of a finished GameServer.
		return &sdkError{codeInvalidArgument, http.StatusBadRequest, fmt.Sprintf("GameServer is %s", gs.Status.State)}
	}
	if gs.Status.State == st || (st == agonesv1.GameServerStateRequestReady && gs.Status.State == agonesv1.GameServerStateReady) {
		return nil
	}
	s.Log.Info("state change", "from", gs.Status.State, "to", st)
	return patchGameServer(ctx, s.Client, gs, map[string]any{"status": map[string]any{"state": st}})
}

// shutdown is POST /shutdown: the GameServer goes Shutdown, and the Agones
// stand-in deletes it, which ends the pod.
func (s *Sidecar) shutdown(ctx context.Context) error {
	err := s.setState(ctx, agonesv1.GameServerStateShutdown)
	if errors.Is(err, errGone) {
		// Deleted already (a drained shard's GameServer, whose pod is
		// stopping): in Agones the call succeeds.
		return nil
	}
	return err
}

// metadata handles PUT /metadata/{label,annotation}: Agones prefixes the
// key with "agones.dev/sdk-".
func (s *Sidecar) metadata(ctx context.Context, r *http.Request, kind string) error {
	var kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := decode(r, &kv); err != nil {
		return err
	}
	if kv.Key == "" {
		return badRequest("key is empty")
	}
	gs, err := s.get(ctx)
	if err != nil {
		return err
	}
	field := "labels"
	if kind == "annotation" {
		field = "annotations"
	}
	return patchGameServer(ctx, s.Client, gs, map[string]any{"metadata": map[string]any{field: map[string]string{"agones.dev/sdk-" + kv.Key: kv.Value}}})
}

type sdkCounter struct {
	Name     string `json:"name"`
	Count    string `json:"count"`
	Capacity string `json:"capacity"`
}

func (s *Sidecar) counter(ctx context.Context, name string) (any, error) {
	gs, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := gs.Status.Counters[name]
	if !ok {
		return nil, &sdkError{codeNotFound, http.StatusNotFound, fmt.Sprintf("counter not found: %s", name)}
	}
	return sdkCounter{name, strconv.FormatInt(c.Count, 10), strconv.FormatInt(c.Capacity, 10)}, nil
}

// counterUpdate is the CounterUpdateRequest body: int64s are strings in the
// gateway's JSON (numbers are accepted too); nil means not sent.
type counterUpdate struct {
	Count     *agonessdk.Int64 `json:"count"`
	Capacity  *agonessdk.Int64 `json:"capacity"`
	CountDiff *agonessdk.Int64 `json:"countDiff"`
}

// updateCounter is PATCH /v1beta1/counters/{name} (CounterUpdateRequest):
// count and capacity set, countDiff adds; the count must stay within
// [0, capacity], as in Agones.
func (s *Sidecar) updateCounter(ctx context.Context, r *http.Request, name string) (any, error) {
	var req counterUpdate
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	gs, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := gs.Status.Counters[name]
	if !ok {
		return nil, &sdkError{codeNotFound, http.StatusNotFound, fmt.Sprintf("counter not found: %s (declare it in the GameServer's spec.counters)", name)}
	}
	if req.Capacity != nil {
		if *req.Capacity < 0 {
			return nil, &sdkError{codeOutOfRange, http.StatusBadRequest, fmt.Sprintf("counter %s: capacity %d is negative", name, *req.Capacity)}
		}
		c.Capacity = int64(*req.Capacity)
	}
	if req.Count != nil {
		c.Count = int64(*req.Count)
	}
	if req.CountDiff != nil {
		c.Count += int64(*req.CountDiff)
	}
	if c.Count < 0 || c.Count > c.Capacity {
		return nil, &sdkError{codeOutOfRange, http.StatusBadRequest, fmt.Sprintf("counter %s: count %d out of range [0, %d]", name, c.Count, c.Capacity)}
	}
	patch := map[string]any{"status": map[string]any{"counters": map[string]any{name: map[string]any{"count": c.Count, "capacity": c.Capacity}}}}
	if err := patchGameServer(ctx, s.Client, gs, patch); err != nil {
		return nil, err
	}
	return sdkCounter{name, strconv.FormatInt(c.Count, 10), strconv.FormatInt(c.Capacity, 10)}, nil
}

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return badRequest("read body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("body %q: %v", truncate(body, 200), err)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// gameServer is GET /gameserver: the SDK's GameServer (sdkGameServer).
func (s *Sidecar) gameServer(ctx context.Context) (any, error) {
	gs, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return SDKGameServer(gs), nil
}

// SDKGameServer converts a GameServer to the SDK's JSON shape.
func SDKGameServer(gs *agonesv1.GameServer) map[string]any {
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	meta := map[string]any{
		"name": gs.Name, "namespace": gs.Namespace, "uid": string(gs.UID), "resource_version": gs.ResourceVersion,
		"generation": i64(gs.Generation), "creation_timestamp": i64(gs.CreationTimestamp.Unix()),
		"labels": orEmpty(gs.Labels), "annotations": orEmpty(gs.Annotations),
	}
	if gs.DeletionTimestamp != nil {
		meta["deletion_timestamp"] = i64(gs.DeletionTimestamp.Unix())
	}
	h := gs.Spec.Health
	spec := map[string]any{"health": map[string]any{
		"disabled": h.Disabled, "period_seconds": h.PeriodSeconds, "failure_threshold": h.FailureThreshold,
		"initial_delay_seconds": h.InitialDelaySeconds,
	}}
	ports := []map[string]any{}
	for _, p := range gs.Status.Ports {
		ports = append(ports, map[string]any{"name": p.Name, "port": p.Port})
	}
	addrs := []map[string]any{}
	for _, a := range gs.Status.Addresses {
		addrs = append(addrs, map[string]any{"type": string(a.Type), "address": a.Address})
	}
	counters := map[string]any{}
	for n, c := range gs.Status.Counters {
		counters[n] = map[string]any{"count": i64(c.Count), "capacity": i64(c.Capacity)}
	}
	status := map[string]any{
		"state": string(gs.Status.State), "address": gs.Status.Address, "addresses": addrs, "ports": ports,
		"counters": counters, "lists": map[string]any{},
	}
	return map[string]any{"object_meta": meta, "spec": spec, "status": status}
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
