package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/login"
	"github.com/gamehall/gamehall/profiles"
)

// hallClient speaks the login and hall HTTP APIs.
type hallClient struct {
	base string
	http *http.Client

	mu       sync.Mutex
	sessions map[string]string // account → session of its last login
}

// APIError is a login or hall error answer.
type APIError struct {
	Status int
	Code   string
	Msg    string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Msg) }

func newHallClient(base string) *hallClient {
	tr := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256, // logins reuse a pool instead of a socket each
		IdleConnTimeout:     30 * time.Second,
	}
	// No Client.Timeout: the WebSocket dialer refuses one; every call has a
	// context deadline instead.
	return &hallClient{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr}, sessions: map[string]string{}}
}

func (h *hallClient) close() { h.http.CloseIdleConnections() }

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	var body login.ErrorBody
	if err := json.Unmarshal(b, &body); err == nil && body.Error.Code != "" {
		return &APIError{resp.StatusCode, body.Error.Code, body.Error.Message}
	}
	return &APIError{resp.StatusCode, "", strings.TrimSpace(string(b))}
}

// login logs account in as a guest, naming the session of its last login
// (a guest name in use is refused to anyone else).
func (h *hallClient) login(ctx context.Context, account string) (login.Response, error) {
	h.mu.Lock()
	last := h.sessions[account]
	h.mu.Unlock()
	body, _ := json.Marshal(login.Request{Account: account, Session: last})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/login", bytes.NewReader(body))
	if err != nil {
		return login.Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return login.Response{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return login.Response{}, apiError(resp)
	}
	var out login.Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return login.Response{}, fmt.Errorf("login answer: %w", err)
	}
	if out.Ticket == "" {
		return login.Response{}, errors.New("login answer without a ticket")
	}
	h.mu.Lock()
	h.sessions[account] = out.Session
	h.mu.Unlock()
	return out, nil
}

// balance logs account in again and reads its balance in region from GET /v1/me.
func (h *hallClient) balance(ctx context.Context, account, region string) (int64, error) {
	lr, err := h.login(ctx, account)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/v1/me", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+lr.Ticket)
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, apiError(resp)
	}
	var me profiles.MeResponse
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		return 0, fmt.Errorf("/v1/me answer: %w", err)
	}
	for _, r := range me.Regions {
		if r.Region == region {
			return r.Coins, nil
		}
	}
	return 0, fmt.Errorf("/v1/me lists no region %s", region)
}

// regions lists the hall's regions.
func (h *hallClient) regions(ctx context.Context, base, ticket string) ([]hall.RegionSummary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/regions", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ticket)
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	var out struct {
		Regions []hall.RegionSummary `json:"regions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("regions answer: %w", err)
	}
	return out.Regions, nil
}

// directory opens the region's watch stream on a page the hall picks among
// those with free seats (page=auto, what a lobby's "find me a room" does),
// reads the snapshot and closes it: a player looks at the room list while
// choosing, not while playing, and an open stream per seated player would
// double the sockets of a run.
func (h *hallClient) directory(ctx context.Context, base, region, ticket string) ([]hall.Room, error) {
	u := base + "/v1/regions/" + url.PathEscape(region) + "/watch?page=auto"
	u = "ws" + strings.TrimPrefix(u, "http")
	for hop := 0; ; hop++ {
		hdr := http.Header{}
		hdr.Set("Authorization", "Bearer "+ticket)
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: h.http, HTTPHeader: hdr})
		if err != nil {
			// A replica over its client limit redirects to a peer.
			if resp != nil && resp.StatusCode == http.StatusTemporaryRedirect && hop < 3 {
				if loc := resp.Header.Get("Location"); loc != "" {
					u = "ws" + strings.TrimPrefix(loc, "http")
					continue
				}
			}
			if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
				return nil, apiError(resp)
			}
			return nil, err
		}
		c.SetReadLimit(16 << 20)
		_, b, err := c.Read(ctx)
		c.CloseNow()
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", region, err)
		}
		var m hall.WatchMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("watch %s: bad message: %w", region, err)
		}
		if m.Type != "snapshot" {
			return nil, fmt.Errorf("watch %s: first message is %q, want a snapshot", region, m.Type)
		}
		return m.Rooms, nil
	}
}
