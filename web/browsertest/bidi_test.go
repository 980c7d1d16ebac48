//go:build browser

package browsertest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A WebDriver BiDi client (https://w3c.github.io/webdriver-bidi/): Firefox
// speaks it natively, so Debian's firefox-esr needs no geckodriver (which
// Debian does not package). Commands are JSON {id, method, params}; the
// answer with the same id is {type: "success", result} or {type: "error",
// error, message}; events (type "event") are not needed here.
type bidi struct {
	conn *websocket.Conn
	mu   sync.Mutex
	next int
	wait map[int]chan bidiAnswer
	err  error // the connection's end, once it ended
}

type bidiAnswer struct {
	Type    string          `json:"type"`
	ID      int             `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
}

func dialBiDi(ctx context.Context, url string) (*bidi, error) {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(64 << 20) // screenshots
	b := &bidi{conn: c, wait: map[int]chan bidiAnswer{}}
	go b.read()
	return b, nil
}

func (b *bidi) read() {
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.err = err
			for id, ch := range b.wait {
				close(ch)
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		var a bidiAnswer
		if json.Unmarshal(data, &a) != nil || a.Type == "event" {
			continue
		}
		b.mu.Lock()
		ch := b.wait[a.ID]
		delete(b.wait, a.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
}

// call sends a command and returns its result.
func (b *bidi) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: the browser's connection ended: %w", method, b.err)
	}
	b.next++
	id := b.next
	ch := make(chan bidiAnswer, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%s: the browser's connection ended", method)
		}
		if a.Type != "success" {
			return nil, fmt.Errorf("%s: %s: %s", method, a.Error, a.Message)
		}
		return a.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// firefoxPage is a tab of a headless Firefox (a fresh profile) driven over
// BiDi; it implements page.
type firefoxPage struct {
	b       *bidi
	context string // the tab's browsing context id
}

var bidiListening = regexp.MustCompile(`WebDriver BiDi listening on (ws://\S+)`)

// firefoxPrefs keep a fresh profile off the network and quiet: no update,
// telemetry, studies, safe-browsing lists or first-run pages.
const firefoxPrefs = `
user_pref("app.update.disabledForTesting", true);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("remote.prefs.recommended", true);
`

// firefox starts Debian's firefox-esr headless on a free port and opens a
// BiDi session on its first tab.
func firefox(t *testing.T) *firefoxPage {
	t.Helper()
	path := os.Getenv("FIREFOX")
	if path == "" {
		for _, name := range []string{"firefox-esr", "firefox"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Fatal("no firefox: install Debian's firefox-esr (hack/ensure-deps.sh firefox) or set FIREFOX")
	}
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", profile, "about:blank")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := bidiListening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not say where WebDriver BiDi listens within 60 s", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := dialBiDi(ctx, url+"/session")
	if err != nil {
		t.Fatalf("connecting to Firefox's BiDi at %s: %v", url, err)
	}
	t.Cleanup(func() { b.conn.CloseNow() })
	sess, err := b.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	var caps struct {
		Capabilities struct {
			BrowserName    string `json:"browserName"`
			BrowserVersion string `json:"browserVersion"`
		} `json:"capabilities"`
	}
	json.Unmarshal(sess, &caps)
	t.Logf("%s %s over WebDriver BiDi at %s", caps.Capabilities.BrowserName, caps.Capabilities.BrowserVersion, url)
	raw, err := b.call(ctx, "browsingContext.getTree", map[string]any{"maxDepth": 0})
	if err != nil {
		t.Fatal(err)
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := json.Unmarshal(raw, &tree); err != nil || len(tree.Contexts) == 0 {
		t.Fatalf("Firefox has no tab: %s (%v)", raw, err)
	}
	p := &firefoxPage{b: b, context: tree.Contexts[0].Context}
	if _, err := b.call(ctx, "browsingContext.setViewport", map[string]any{"context": p.context,
		"viewport": map[string]int{"width": 1280, "height": 860}}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *firefoxPage) navigate(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.b.call(ctx, "browsingContext.navigate", map[string]any{"context": p.context, "url": url, "wait": "complete"}); err != nil {
		t.Fatal(err)
	}
}

// evalJSON evaluates expr in the tab and returns its value as JSON.
func (p *firefoxPage) evalJSON(expr string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := p.b.call(ctx, "script.evaluate", map[string]any{
		"expression": "JSON.stringify((" + expr + ") ?? null)", "awaitPromise": false,
		"target": map[string]string{"context": p.context}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	if r.Type != "success" {
		return nil, fmt.Errorf("%s", r.ExceptionDetails.Text)
	}
	return json.RawMessage(r.Result.Value), nil
}

func (p *firefoxPage) eval(t *testing.T, expr string, out any) {
	t.Helper()
	v, err := p.evalJSON(expr)
	if err == nil {
		err = json.Unmarshal(v, out)
	}
	if err != nil {
		t.Fatalf("evaluating %s in Firefox: %v", expr, err)
	}
}

func (p *firefoxPage) waitJS(t *testing.T, within time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := p.evalJSON("!!(" + cond + ")")
		if err == nil && string(v) == "true" {
			return
		}
		if time.Now().After(deadline) {
			var said string
			p.eval(t, pageMessages, &said)
			t.Fatalf("waiting until %s in Firefox: not within %s (last error %v; page messages: %q)", what, within, err, said)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *firefoxPage) click(t *testing.T, sel string) { clickWith(t, p, sel) }

func (p *firefoxPage) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	raw, err := p.b.call(ctx, "browsingContext.captureScreenshot", map[string]any{"context": p.context})
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	var r struct {
		Data string `json:"data"`
	}
	png, err := []byte(nil), json.Unmarshal(raw, &r)
	if err == nil {
		png, err = base64.StdEncoding.DecodeString(r.Data)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	saveScreenshot(t, "web-firefox-"+name, png)
}
