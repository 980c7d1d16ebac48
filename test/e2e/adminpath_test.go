//go:build e2e

// The admin path end to end (issue 9): what the README's Kubernetes section
// tells a cluster admin, run against a real kube-apiserver with the node
// stand-in of internal/fakenode (no kubelet or Agones controller can run
// here; it runs every pod — operator, hall, Redis, game servers — as
// processes from their pod specs). Run: make e2e-smoke (CI) or make e2e.
package e2e_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/internal/e2e"
)

const (
	ns      = "default"
	hallURL = "http://main-hall.default.svc:8080"
	imgV1   = "registry.example/gamehall:e2e-v1"
)

func TestAdminPath(t *testing.T) {
	full := os.Getenv("E2E_FULL") != ""
	players := 60
	if full {
		players = 90
	}
	c := e2e.Start(t, e2e.Options{})
	kubectl := c.Kubectl

	c.Progressf("== install: Agones' GameServer CRD, then the operator (make deploy)")
	c.MustRun(kubectl, "apply", "--server-side", "-f", "config/agones/gameserver-crd.yaml")
	c.MustRun("make", "--no-print-directory", "deploy", "IMG="+imgV1, "KUBECTL="+kubectl)
	c.MustRun(kubectl, "-n", "gamehall-system", "rollout", "status", "deployment/gamehall-operator", "--timeout=180s")

	c.Progressf("== the signing key, the Redis, the samples (verbatim)")
	c.MustRun(kubectl, "create", "secret", "generic", "gamehall-signing-keys", "--from-literal=k1="+randomKey())
	c.MustRun(kubectl, "apply", "-k", "config/redis")
	c.MustRun(kubectl, "apply", "-f", "config/samples/")
	c.MustRun(kubectl, "apply", "-f", "test/e2e/testdata/region-scale.yaml")
	c.MustRun(kubectl, "rollout", "status", "deployment/redis", "--timeout=120s")
	c.Eventually("Hall main Ready", 3*time.Minute, func() (bool, string) {
		out, err := c.KubectlOut("get", "hall", "main", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`)
		return err == nil && strings.HasPrefix(out, "True"), strings.TrimSpace(out)
	})
	for _, region := range []string{"doudizhu-zone1-south", "e2e-scale"} {
		c.Eventually("Region "+region+" has a ready shard", 3*time.Minute, func() (bool, string) {
			out, _ := c.KubectlOut("get", "region", region, "-o", "jsonpath={.status.readyShards}")
			return out != "" && out != "0", "readyShards=" + out
		})
	}
	c.Progressf("kubectl get gamehall:\n%s", c.MustRun(kubectl, "get", "gamehall"))

	c.Progressf("== bots play through the Hall Service; the Region scales out")
	obs := c.WatchInvariants(ns)
	sample := c.StartBots(e2e.BotOptions{Name: "sample", HallURL: hallURL, Region: "doudizhu-zone1-south", Players: 12,
		Duration: 40 * time.Second, Think: 300 * time.Millisecond, Break: 2 * time.Second, LeaveGrace: 20 * time.Second})
	scale := c.StartBots(e2e.BotOptions{Name: "scale", HallURL: hallURL, Region: "e2e-scale", Players: players,
		Duration: 60 * time.Second, Think: 300 * time.Millisecond, Break: 2 * time.Second, LeaveGrace: 20 * time.Second})
	peak := 0
	for done := false; !done; {
		select {
		case <-scale.Done():
			done = true
		case <-time.After(5 * time.Second):
		}
		out, _ := c.KubectlOut("get", "region", "e2e-scale", "-o", "jsonpath={.status.shards} {.status.readyShards} {.status.players}")
		var shards, ready, pl int
		fmt.Sscan(out, &shards, &ready, &pl)
		if ready > peak {
			peak = ready
			c.Progressf("Region e2e-scale: %d shards, %d ready, %d players", shards, ready, pl)
			c.Progressf("kubectl get roomshards -o wide:\n%s", c.MustRun(kubectl, "get", "roomshards", "-o", "wide"))
		}
	}
	for _, b := range []*e2e.Bots{sample, scale} {
		r := b.Wait()
		c.Progressf("bots:\n%s", r.Summary)
		if r.Err != nil || r.Logins <= 0 || r.Games <= 0 || r.ProtocolErrors != 0 || r.ConnectionsLost != 0 {
			t.Errorf("bots: %v; logins %d, games %d, protocol errors %d, connections lost %d", r.Err, r.Logins, r.Games, r.ProtocolErrors, r.ConnectionsLost)
		}
	}
	if peak < 3 {
		t.Errorf("Region e2e-scale reached %d ready shards under %d players; want ≥ 3", peak, players)
	}

	c.Progressf("== the players left: the Region drains back to minShards")
	c.Eventually("Region e2e-scale back to 1 shard", 3*time.Minute, func() (bool, string) {
		out, _ := c.KubectlOut("get", "region", "e2e-scale", "-o", "jsonpath={.status.shards}")
		gs, _ := c.KubectlOut("get", "gameservers", "-l", "gamehall.dev/region=e2e-scale", "-o", "name")
		n := len(strings.Fields(gs))
		return out == "1" && n == 1, fmt.Sprintf("shards=%s gameservers=%d", out, n)
	})
	c.Progressf("kubectl get gamehall,roomshards -o wide:\n%s", c.MustRun(kubectl, "get", "gamehall,roomshards", "-o", "wide"))
	for _, v := range obs.Stop() {
		t.Errorf("invariant: %s", v)
	}
}

// randomKey is what the README's `head -c 32 /dev/urandom | base64` makes.
func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
