// Package agonessdk is a client for the Agones SDK sidecar's REST API
// (shared/agones/sdk.swagger.json and beta.swagger.json), used by the game
// server: the Agones Go SDK cannot be fetched from the module proxy, and the
// REST API is the documented, stable contract.
//
// Outside Agones the SDK is off: New(0) returns a nil *Client whose methods do
// nothing and return nil, so the game server calls it unconditionally.
//
// The sidecar may start after the game server, so every call retries while
// the connection is refused, with capped exponential backoff, until its
// context ends.
package agonessdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Client talks to the sidecar on 127.0.0.1:port. A nil *Client is the SDK
// turned off. Fields may be changed before first use.
type Client struct {
	base string
	HTTP *http.Client
	// RetryBase and RetryMax bound the wait between attempts while the
	// sidecar is not up yet.
	RetryBase, RetryMax time.Duration
	// PollInterval is how often WatchMetadata reads the GameServer: the REST
	// gateway's /watch/gameserver is a long-lived chunked stream that the
	// sidecar does not document for REST clients, so this client polls.
	PollInterval time.Duration
	// OnPollError, if set, hears about failed polls in WatchMetadata (which
	// keeps polling: a sidecar restart must not end the watch).
	OnPollError func(error)
}

// New returns a client for the sidecar's HTTP port ($AGONES_SDK_HTTP_PORT).
// Port 0 means not running under Agones: it returns nil, the off client.
func New(port int) *Client {
	if port == 0 {
		return nil
	}
	return &Client{
		base:         "http://127.0.0.1:" + strconv.Itoa(port),
		HTTP:         &http.Client{Timeout: 10 * time.Second},
		RetryBase:    50 * time.Millisecond,
		RetryMax:     2 * time.Second,
		PollInterval: time.Second,
	}
}

// Ready tells Agones the game server can take players (POST /ready).
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/ready", struct{}{}, nil)
}

// Health is one health ping (POST /health); Agones marks the GameServer
// Unhealthy when pings stop for longer than its health spec allows.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/health", struct{}{}, nil)
}

// Allocate marks the GameServer Allocated (POST /allocate).
func (c *Client) Allocate(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/allocate", struct{}{}, nil)
}

// Shutdown asks Agones to shut the GameServer down (POST /shutdown).
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/shutdown", struct{}{}, nil)
}

// SetLabel sets metadata.labels["agones.dev/sdk-"+key] on the GameServer
// (PUT /metadata/label; Agones adds the prefix).
func (c *Client) SetLabel(ctx context.Context, key, value string) error {
	return c.do(ctx, http.MethodPut, "/metadata/label", keyValue{Key: key, Value: value}, nil)
}

// SetAnnotation sets metadata.annotations["agones.dev/sdk-"+key] on the
// GameServer (PUT /metadata/annotation; Agones adds the prefix).
func (c *Client) SetAnnotation(ctx context.Context, key, value string) error {
	return c.do(ctx, http.MethodPut, "/metadata/annotation", keyValue{Key: key, Value: value}, nil)
}

// SetCounter sets a counter's count and capacity in one call
// (PATCH /v1beta1/counters/{name}); the counter must be declared in the
// GameServer spec.
func (c *Client) SetCounter(ctx context.Context, name string, count, capacity int64) error {
	if c == nil {
		return nil
	}
	if name == "" {
		return errors.New("agonessdk: counter name is empty")
	}
	if count < 0 || capacity < 0 || count > capacity {
		return fmt.Errorf("agonessdk: counter %q: count %d outside [0, capacity %d]", name, count, capacity)
	}
	body := counterUpdate{Count: Int64(count), Capacity: Int64(capacity)}
	return c.do(ctx, http.MethodPatch, "/v1beta1/counters/"+url.PathEscape(name), body, nil)
}

// GameServer reads the sidecar's view of this GameServer (GET /gameserver).
// The off client returns nil, nil.
func (c *Client) GameServer(ctx context.Context) (*GameServer, error) {
	if c == nil {
		return nil, nil
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/gameserver", nil, &raw); err != nil {
		return nil, err
	}
	return DecodeGameServer(raw)
}

// WatchMetadata polls the GameServer every PollInterval and calls fn with
// its metadata: once with the first value read, then whenever its labels or
// annotations change. It returns when ctx ends (with ctx's error); the off
// client returns nil at once.
func (c *Client) WatchMetadata(ctx context.Context, fn func(ObjectMeta)) error {
	if c == nil {
		return nil
	}
	interval := c.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	var last *ObjectMeta
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		gs, err := c.GameServer(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			if c.OnPollError != nil {
				c.OnPollError(err)
			}
		case last == nil || !maps.Equal(last.Labels, gs.ObjectMeta.Labels) || !maps.Equal(last.Annotations, gs.ObjectMeta.Annotations):
			last = &gs.ObjectMeta
			fn(gs.ObjectMeta)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Error is a non-2xx answer of the sidecar.
type Error struct {
	Method, Path string
	StatusCode   int
	Message      string // the gRPC status message, or the body
}

func (e *Error) Error() string {
	return fmt.Sprintf("agonessdk: %s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if c == nil {
		return nil
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("agonessdk: %s %s: encode: %w", method, path, err)
		}
	}
	wait := c.RetryBase
	for {
		err := c.once(ctx, method, path, body, out)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
		// The sidecar is not listening yet: wait and try again.
		select {
		case <-ctx.Done():
			return fmt.Errorf("sidecar not reachable before the context ended: %w", errors.Join(ctx.Err(), err))
		case <-time.After(wait):
		}
		if wait *= 2; wait > c.RetryMax {
			wait = c.RetryMax
		}
	}
}

func (c *Client) once(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("agonessdk: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("agonessdk: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("agonessdk: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Method: method, Path: path, StatusCode: resp.StatusCode, Message: string(bytes.TrimSpace(data))}
		var st struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			e.Message = st.Message
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("agonessdk: %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type counterUpdate struct {
	Count    Int64 `json:"count"`
	Capacity Int64 `json:"capacity"`
}

// Int64 is an int64 in the sidecar's JSON: written as a string (proto3 JSON
// mapping), read from a string or a number.
type Int64 int64

func (v Int64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(v), 10) + `"`), nil
}

func (v *Int64) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("int64 value %s: %w", b, err)
	}
	*v = Int64(n)
	return nil
}

// GameServer is the SDK's GameServer (sdkGameServer in sdk.swagger.json),
// the part this project reads.
type GameServer struct {
	ObjectMeta ObjectMeta       `json:"object_meta"`
	Status     GameServerStatus `json:"status"`
}

// ObjectMeta is GameServerObjectMeta.
type ObjectMeta struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	UID             string            `json:"uid"`
	ResourceVersion string            `json:"resource_version"`
	Generation      Int64             `json:"generation"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
}

// GameServerStatus is sdkGameServerStatus.
type GameServerStatus struct {
	State    string             `json:"state"`
	Address  string             `json:"address"`
	Ports    []Port             `json:"ports"`
	Counters map[string]Counter `json:"counters"`
}

// Port is StatusPort.
type Port struct {
	Name string `json:"name"`
	Port int32  `json:"port"`
}

// Counter is StatusCounterStatus.
type Counter struct {
	Count    Int64 `json:"count"`
	Capacity Int64 `json:"capacity"`
}

// DecodeGameServer parses the sidecar's GET /gameserver answer.
func DecodeGameServer(data []byte) (*GameServer, error) {
	var gs GameServer
	if err := json.Unmarshal(data, &gs); err != nil {
		return nil, fmt.Errorf("agonessdk: decode GameServer: %w", err)
	}
	return &gs, nil
}
