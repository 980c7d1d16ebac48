//go:build e2e

// The admin path end to end (issue 9): what the README's Kubernetes section
// tells a cluster admin, run against a real kube-apiserver with the node
// stand-in of internal/fakenode (no kubelet or Agones controller can run
// here; it runs every pod — operator, hall, Redis, game servers — as
// processes from their pod specs). Run: make e2e-smoke (CI) or make e2e.
package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/internal/e2e"
	"github.com/gamehall/gamehall/internal/testenv"
	"github.com/gamehall/gamehall/store"
	"github.com/gamehall/gamehall/store/pgtest"
)

const (
	ns      = "default"
	hallURL = "http://main-hall.default.svc:8080"
)

var regions = []string{"doudizhu-zone1-south", "doudizhu-zone1-north", "e2e-scale"}

func TestAdminPath(t *testing.T) {
	full := os.Getenv("E2E_FULL") != ""
	players := 60
	if full {
		players = 90
	}
	// v2 is another file (a hard link of bin/gamehall), so a process shows
	// which version it runs.
	v2 := filepath.Join(e2eRoot(t), "bin", "e2e", "gamehall-v2")
	if err := os.MkdirAll(filepath.Dir(v2), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(v2)
	if err := os.Link(filepath.Join(e2eRoot(t), "bin", "gamehall"), v2); err != nil {
		t.Fatal(err)
	}
	c := e2e.Start(t, e2e.Options{ImagesByTag: map[string]string{"v2": v2}, Path: []string{pluginDir(t)}})
	kubectl := c.Kubectl

	c.Progressf("== Agones' GameServer CRD (its controller is played by the node stand-in)")
	c.MustRun(kubectl, "apply", "--server-side", "-f", "config/agones/gameserver-crd.yaml")
	// The admin's PostgreSQL (the README asks for one of theirs): a real
	// server on the node's address, which pods and this host both reach,
	// with one database for the login and South, one for North.
	pg := pgtest.StartWith(t, pgtest.Options{Host: c.Net.NodeIP.String(), Log: c.Progressf})
	dbMain, dbNorth := pg.NewDatabase(t), pg.NewDatabase(t)
	t.Setenv("DB_MAIN", dbMain)
	t.Setenv("DB_NORTH", dbNorth)
	c.Progressf("== the README's Kubernetes section, verbatim")
	for _, line := range readmeCommands(t, c.Root) {
		c.Shell(line)
	}
	c.Progressf("== a second Region, small enough to scale out on this machine")
	c.Shell("kubectl apply -f test/e2e/testdata/region-scale.yaml")
	for _, region := range regions {
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
	north := c.StartBots(e2e.BotOptions{Name: "north", HallURL: hallURL, Region: "doudizhu-zone1-north", Players: 6,
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
			if peak == 3 {
				// The live room table, from a hall through the API server's service proxy.
				c.Shell("kubectl gamehall rooms e2e-scale")
			}
		}
	}
	for _, b := range []*e2e.Bots{sample, north, scale} {
		r := b.Wait()
		c.Progressf("bots %q:\n%s", r.Name, r.Summary)
		if r.Err != nil || r.Logins <= 0 || r.Games <= 0 || r.ProtocolErrors != 0 || r.ConnectionsLost != 0 {
			t.Errorf("bots: %v; logins %d, games %d, protocol errors %d, connections lost %d", r.Err, r.Logins, r.Games, r.ProtocolErrors, r.ConnectionsLost)
		}
	}
	checkBooks(t, c, map[string]string{"doudizhu-zone1-south": dbMain, "doudizhu-zone1-north": dbNorth})
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
	c.Shell("kubectl gamehall top")
	c.Shell("kubectl gamehall rooms doudizhu-zone1-south --state open | tail -n 4")

	c.Progressf("== upgrade: a new image deployed while players play")
	up := c.StartBots(e2e.BotOptions{Name: "upgrade", HallURL: hallURL, Region: "e2e-scale", Players: 30,
		Duration: 60 * time.Second, Think: 300 * time.Millisecond, Break: 2 * time.Second, LeaveGrace: 30 * time.Second})
	c.Eventually("players in e2e-scale", 2*time.Minute, func() (bool, string) {
		out, _ := c.KubectlOut("get", "region", "e2e-scale", "-o", "jsonpath={.status.players}")
		return out != "" && out != "0", "players=" + out
	})
	c.Shell("make deploy IMG=registry.example/gamehall:v2")
	c.Shell("kubectl -n gamehall-system rollout status deployment/gamehall-operator --timeout=5m")
	gsImages := func() string {
		out, _ := c.KubectlOut("get", "gameservers", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.template.spec.containers[0].image}{" "}{end}`)
		return out
	}
	// The operator's new image is the shards' too: each Region replaces its
	// shards, new ones first, old ones drained until their players left.
	shown := false
	c.Eventually("every GameServer on v2", 5*time.Minute, func() (bool, string) {
		out := gsImages()
		st, outdated := upgradeStatus(c)
		if !shown && outdated > 0 {
			shown = true
			c.Progressf("kubectl get regions,roomshards -o wide (upgrading):\n%s", c.MustRun(kubectl, "get", "regions,roomshards", "-o", "wide"))
			c.Shell("kubectl gamehall top")
		}
		return out != "" && !strings.Contains(out, ":v1"), st + " | " + out
	})
	c.Eventually("the Hall's pods on v2", 5*time.Minute, func() (bool, string) {
		out, _ := c.KubectlOut("get", "pods", "-l", "gamehall.dev/hall=main", "-o", `jsonpath={range .items[*]}{.spec.containers[0].image}{" "}{end}`)
		return strings.TrimSpace(out) == "registry.example/gamehall:v2", "hall pods: " + out
	})
	c.Shell("kubectl rollout status deployment/main-hall --timeout=5m")
	for _, region := range regions {
		c.Eventually("Region "+region+" up to date", time.Minute, func() (bool, string) {
			out, _ := c.KubectlOut("get", "region", region, "-o", `jsonpath={.status.outdatedShards} {.status.updatedShards} {.status.conditions[?(@.type=="UpToDate")].reason}`)
			return strings.HasSuffix(out, " ShardsUpToDate") && strings.HasPrefix(out, "0 "), out
		})
	}
	c.Progressf("image rolled through: %s", gsImages())
	c.Progressf("kubectl get regions,roomshards -o wide:\n%s", c.MustRun(kubectl, "get", "regions,roomshards", "-o", "wide"))
	c.Shell("kubectl gamehall rooms e2e-scale")
	r := up.Wait()
	c.Progressf("bots during the upgrade:\n%s", r.Summary)
	if r.Err != nil || r.Games <= 0 || r.ProtocolErrors != 0 || r.ConnectionsLost != 0 {
		t.Errorf("upgrade cut players: %v; games %d, protocol errors %d, connections lost %d", r.Err, r.Games, r.ProtocolErrors, r.ConnectionsLost)
	}
	c.Progressf("players cut by the upgrade: %d (connections lost), protocol errors %d, games %d", r.ConnectionsLost, r.ProtocolErrors, r.Games)
	if ev := c.MustRun(kubectl, "get", "events", "--field-selector", "reason=DrainTimeoutExpired", "-o", "name"); strings.TrimSpace(ev) != "" {
		t.Errorf("shards deleted with players on them: %s", ev)
	}
	for _, v := range obs.Stop() {
		t.Errorf("invariant: %s", v)
	}
}

// checkBooks shows that each Region's games were settled in its own
// database, and only there, with books that hold (every game zero-sum,
// every balance equal to its ledger).
func checkBooks(t *testing.T, c *e2e.Cluster, dbs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for region, dsn := range dbs {
		c.Progressf("%s", strings.TrimSpace(c.MustRun(filepath.Join(c.Root, "bin", "gamehall"), "check-settlements", "--database-url", dsn)))
		s, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatalf("%s's database: %v", region, err)
		}
		defer s.Close()
		names, err := s.RegionNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if _, mine := dbs[name]; mine && name != region {
				t.Errorf("%s's database holds players of %s", region, name)
			}
		}
		rep, err := s.Check(ctx, region)
		if err != nil || !rep.OK() || rep.Games == 0 {
			t.Errorf("%s's books: %v, %v; want games, all settled once", region, rep, err)
		}
	}
}

// upgradeStatus is each Region's shards, up to date or not, for the log,
// and how many are outdated in all.
func upgradeStatus(c *e2e.Cluster) (_ string, outdatedShards int) {
	var parts []string
	for _, region := range regions {
		out, _ := c.KubectlOut("get", "region", region, "-o", "jsonpath={.status.shards} {.status.updatedShards} {.status.outdatedShards} {.status.drainingShards} {.status.players}")
		var shards, updated, outdated, draining, players int
		fmt.Sscan(out, &shards, &updated, &outdated, &draining, &players)
		parts = append(parts, fmt.Sprintf("%s: shards=%d up-to-date=%d outdated=%d draining=%d players=%d", region, shards, updated, outdated, draining, players))
		outdatedShards += outdated
	}
	return strings.Join(parts, "; "), outdatedShards
}

// pluginDir is a directory holding only the kubectl plugin (make
// kubectl-plugin), for the admin's PATH.
func pluginDir(t *testing.T) string {
	bin := filepath.Join(e2eRoot(t), "bin", "kubectl-gamehall")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the kubectl plugin is missing: run make kubectl-plugin (%v)", err)
	}
	dir := filepath.Join(e2eRoot(t), "bin", "e2e", "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kubectl-gamehall")
	os.Remove(link)
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	return dir
}

func e2eRoot(t *testing.T) string {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func randomKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// readmeCommands returns the command lines of the README block that
// test/e2e runs verbatim (the fenced block after its marker comment),
// comments dropped and continued lines joined.
func readmeCommands(t *testing.T, root string) []string {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "<!-- test/e2e runs this block verbatim")
	if !ok {
		t.Fatal("README.md has no block marked for test/e2e")
	}
	_, block, _ = strings.Cut(block, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var lines []string
	cont := ""
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	if len(lines) == 0 {
		t.Fatal("the README block for test/e2e is empty")
	}
	return lines
}
