//go:build e2e

// The fault-injection suite (issue 10, make test-faults): the whole platform
// on the admin path (operator, Hall replicas, Redis, game servers, as in
// TestAdminPath, with the node stand-in of internal/fakenode for the
// kubelet and Agones, which cannot run here), bots that keep playing and
// dropping their connections throughout, and one fault after another.
// The invariants are checked all along (faultcheck_test.go); each scenario
// records how long the platform took to recover. The table goes to the log
// and to bin/e2e/TestFaults/reliability.md (docs/reliability.md).
package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gamehall/gamehall/internal/e2e"
	"github.com/gamehall/gamehall/store/pgtest"
)

const faultRegion = "faults"

// scenario is one fault: what is injected, and how long until the
// platform was whole again (recovery).
type scenario struct {
	name, injected string
	run            func(f *faultRun) (recovery time.Duration)
	start, end     time.Time
	recovery       time.Duration
}

func TestFaults(t *testing.T) {
	c := e2e.Start(t, e2e.Options{})
	c.Progressf("== the admin path: Agones' CRD, the README's Kubernetes section, a Hall of 2 replicas, the fault suite's Region")
	c.MustRun(c.Kubectl, "apply", "--server-side", "-f", "config/agones/gameserver-crd.yaml")
	pg := pgtest.StartWith(t, pgtest.Options{Host: c.Net.NodeIP.String(), Log: c.Progressf})
	dbMain := pg.NewDatabase(t)
	t.Setenv("DB_MAIN", dbMain) // the login's and the fault Region's (as South's in the README)
	t.Setenv("DB_NORTH", pg.NewDatabase(t))
	for _, line := range readmeCommands(t, c.Root) {
		c.Shell(line)
	}
	c.Shell(`kubectl patch hall main --type merge -p '{"spec":{"replicas":2}}'`)
	c.Shell("kubectl apply -f test/e2e/testdata/region-faults.yaml")
	c.Eventually("Region faults has 2 ready shards and the Hall 2 ready replicas", 3*time.Minute, func() (bool, string) {
		rs, _ := c.KubectlOut("get", "region", faultRegion, "-o", "jsonpath={.status.readyShards}")
		hr, _ := c.KubectlOut("get", "deployment", "main-hall", "-o", "jsonpath={.status.readyReplicas}")
		return rs == "2" && hr == "2", "readyShards=" + rs + " hall readyReplicas=" + hr
	})

	f := newFaultRun(t, c)
	events := filepath.Join(c.Dir, "bot-events.jsonl")
	bots := c.StartBots(e2e.BotOptions{Name: "faults", HallURL: hallURL, Region: faultRegion, Players: 18,
		Duration: 10 * time.Minute, Think: 300 * time.Millisecond, Break: time.Second, LeaveGrace: 20 * time.Second,
		Args: []string{"--drop-every", "20s", "--resume-within", "15s", "--table-wait", "10s", "--held-retry", "30s", "--events", events}})
	f.waitPlayers(12)

	scenarios := []*scenario{
		{name: "shard killed", injected: "SIGKILL to the game server process of the shard with the most players", run: (*faultRun).killShard},
		{name: "Redis restarted empty", injected: "SIGKILL to redis-server (no persistence: it restarts empty)", run: (*faultRun).restartRedis},
		{name: "Redis unreachable 20 s", injected: "SIGSTOP to redis-server for 20 s, then SIGCONT", run: (*faultRun).freezeRedis},
		{name: "Hall replica killed", injected: "SIGKILL to one of the Hall's 2 replicas", run: (*faultRun).killHall},
		{name: "same account on two halls", injected: "one account logs in on both Hall replicas at once and enters a room on each of two shards", run: (*faultRun).twoHalls},
		{name: "operator restarted mid-scale-out", injected: "18 more players; SIGKILL to the operator once a new shard is asked for", run: (*faultRun).operatorMidScaleOut},
		{name: "entry as the drain is marked", injected: "the extra players leave; a player enters the shard the operator marks for drain in the 5 s before the shard reads the mark", run: (*faultRun).enterWhileMarked},
		{name: "operator restarted mid-drain", injected: "minShards 3 → 2 with a player in each shard; SIGKILL to the operator once the drain is confirmed; the players leave", run: (*faultRun).operatorMidDrain},
		{name: "un-drain of a draining shard", injected: "minShards 3 → 2 with a player in each shard; back to 3 once the drain is confirmed", run: (*faultRun).undrain},
		{name: "API server restarted", injected: "kube-apiserver stopped for 10 s, started again (etcd keeps the state)", run: (*faultRun).restartAPIServer},
	}
	for _, s := range scenarios {
		c.Progressf("== scenario: %s (%s)", s.name, s.injected)
		s.start = time.Now()
		s.recovery = s.run(f)
		s.end = time.Now()
		c.Progressf("   recovered in %s", s.recovery.Round(100*time.Millisecond))
	}

	c.Progressf("== the bots finish their games and leave")
	bots.Stop()
	r := bots.Wait()
	c.Progressf("bots:\n%s", r.Summary)
	f.stop()
	rep := f.report(scenarios, r, events)
	c.Progressf("fault suite:\n%s", rep.table)
	if err := os.WriteFile(filepath.Join(c.Dir, "reliability.md"), []byte(rep.table), 0o644); err != nil {
		t.Error(err)
	}
	for _, v := range rep.violations {
		t.Errorf("invariant: %s", v)
	}
	checkBooks(t, c, map[string]string{faultRegion: dbMain}) // every game settled once, zero-sum
	if r.Games <= 0 || r.ProtocolErrors != 0 {
		t.Errorf("bots: games %d, protocol errors %d (log %s)", r.Games, r.ProtocolErrors, filepath.Join(c.Dir, "bots-faults.log"))
	}
}

// killShard SIGKILLs the busiest shard: its players lose their connection
// (no drain, no kick: nothing to count as a cut), go back to the hall,
// and the operator replaces the shard. Recovery: the Region has as many
// ready shards as before. Then, before the next fault, the suite waits for
// the killed shard's players to be in rooms again (f.reseated): presence
// lets them in once the dead process's liveness lapses.
func (f *faultRun) killShard() time.Duration {
	gs := f.busiestShard()
	victims := f.seated(&gs)
	before, err := f.shards()
	f.must(err)
	f.killed(gs.addr)
	f.must(f.c.KillContainer(ns, gs.name, "gameserver"))
	t0 := time.Now()
	known := map[string]bool{}
	for _, s := range before {
		known[s.name] = true
	}
	f.c.Eventually("a new game server in the killed one's place", 3*time.Minute, func() (bool, string) {
		ss, _ := f.shards()
		fresh := 0
		for _, s := range ss {
			if !known[s.name] {
				fresh++
			}
		}
		return fresh > 0 && len(ss) >= len(before) && !f.shardRunning(gs.name),
			fmt.Sprintf("%d running game servers (%d new), want %d without %s", len(ss), fresh, len(before), gs.name)
	})
	recovered := time.Since(t0)
	f.c.Eventually("the killed shard's players in rooms again", 3*time.Minute, func() (bool, string) {
		now, missing := f.seated(nil), 0
		for a := range victims {
			if !now[a] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d not in a room yet", missing, len(victims))
	})
	f.reseated, f.reseatedN = time.Since(t0), len(victims)
	f.c.Progressf("   the killed shard's %d players in rooms again %s after the kill", len(victims), f.reseated.Round(100*time.Millisecond))
	return recovered
}

// restartRedis: Redis comes back empty; the shards re-assert the sessions
// and room entries of the players they hold (their heartbeat), nobody is
// kicked. Recovery: presence holds every account the shards hold again.
func (f *faultRun) restartRedis() time.Duration {
	f.must(f.c.KillContainer(ns, f.podOf("app.kubernetes.io/name=redis"), "redis"))
	t0 := time.Now()
	f.waitPresenceWhole("Redis restarted empty")
	return time.Since(t0)
}

// freezeRedis makes Redis unreachable for 20 s (the process stopped: TCP
// connections hang rather than fail). Recovery, from SIGCONT: presence
// holds every account the shards hold.
func (f *faultRun) freezeRedis() time.Duration {
	pod := f.podOf("app.kubernetes.io/name=redis")
	f.must(f.c.SignalContainer(ns, pod, "redis", syscall.SIGSTOP))
	time.Sleep(20 * time.Second) // the fault's length, not a wait for a condition
	f.must(f.c.SignalContainer(ns, pod, "redis", syscall.SIGCONT))
	t0 := time.Now()
	f.waitPresenceWhole("Redis back")
	return time.Since(t0)
}

// killHall SIGKILLs one Hall replica. Recovery: the Deployment has 2 ready
// replicas again (the killed container restarted).
func (f *faultRun) killHall() time.Duration {
	f.must(f.c.KillContainer(ns, f.podOf("gamehall.dev/hall=main"), "hall"))
	t0 := time.Now()
	f.c.Eventually("the Hall's 2 replicas ready", 2*time.Minute, func() (bool, string) {
		out, _ := f.c.KubectlOut("get", "pods", "-l", "gamehall.dev/hall=main", "-o",
			`jsonpath={range .items[*]}{.status.containerStatuses[0].ready}{" "}{.status.containerStatuses[0].restartCount}{"\n"}{end}`)
		return strings.Count(out, "true") == 2 && strings.Contains(out, "true 1"), out
	})
	return time.Since(t0)
}

// operatorMidScaleOut adds players until the Region asks for a new shard,
// then SIGKILLs the operator. Recovery: the Region has the shards it wants,
// all ready.
func (f *faultRun) operatorMidScaleOut() time.Duration {
	f.extra = f.c.StartBots(e2e.BotOptions{Name: "burst", HallURL: hallURL, Region: faultRegion, Players: 18,
		Duration: 10 * time.Minute, Think: 300 * time.Millisecond, Break: time.Second, LeaveGrace: 20 * time.Second,
		Args: []string{"--drop-every", "20s", "--resume-within", "15s", "--table-wait", "10s", "--held-retry", "30s", "--events", filepath.Join(f.c.Dir, "bot-events-burst.jsonl")}})
	f.c.Eventually("the Region asking for a third shard", 3*time.Minute, func() (bool, string) {
		st := f.regionStatus()
		return st.desired > 2, fmt.Sprintf("%+v", st)
	})
	f.must(f.c.KillContainer("gamehall-system", f.podIn("gamehall-system", "app.kubernetes.io/component=operator"), "operator"))
	t0 := time.Now()
	f.c.Eventually("every shard the Region wants ready", 3*time.Minute, func() (bool, string) {
		st := f.regionStatus()
		return st.desired > 2 && st.ready == st.desired, fmt.Sprintf("%+v", st)
	})
	return time.Since(t0)
}

// enterWhileMarked stops the extra players; once the operator marks a
// shard for drain, a player enters a room of that very shard (its shard
// reads the mark only every 5 s, on purpose). The shard must count it
// before confirming, keep it until it leaves, and only then shut down.
// Recovery: from the player's leave to the shard gone.
func (f *faultRun) enterWhileMarked() time.Duration {
	f.extra.Stop()
	var (
		gs shardRef
		p  *player
	)
	// The shard may read the mark before the player's entry reaches it (a
	// kept promise: it refuses or is gone); then ask for another drain.
	for try := 1; p == nil || p.conn == nil; try++ {
		if try > 3 {
			f.t.Fatal("in 3 tries, every shard marked for drain read the mark before the player entered")
		}
		ok := false
		if try == 1 {
			gs, ok = f.catchMark(2 * time.Minute)
		}
		if !ok { // the scale-down went by between two looks, or the shard won the race: ask for another
			f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":3}}'`)
			f.c.Eventually("3 ready shards", 3*time.Minute, func() (bool, string) {
				st := f.regionStatus()
				return st.ready == 3 && st.draining == 0, fmt.Sprintf("%+v", st)
			})
			f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":2}}'`)
			if gs, ok = f.catchMark(2 * time.Minute); !ok {
				f.t.Fatal("no shard seen marked for drain before it read the mark")
			}
		}
		p = f.enter("fault-window", gs, true)
	}
	f.c.Progressf("   %s entered room %d of %s, marked for drain %s before", p.account, p.room, gs.name, time.Since(gs.marked).Round(time.Millisecond))
	f.c.Eventually("the shard's drain confirmed with the player in", 2*time.Minute, func() (bool, string) {
		return f.drainConfirmed(gs.name), "no confirmation yet"
	})
	// The shard holds the player while it drains: it is still connected.
	if err := p.conn.Err(); err != nil {
		f.violate("entry as the drain is marked: the player's connection ended while it stayed: %v", err)
	}
	p.leave()
	t0 := time.Now()
	f.c.Eventually("the drained shard gone", 2*time.Minute, func() (bool, string) {
		return !f.shardRunning(gs.name), gs.name + " still runs"
	})
	return time.Since(t0)
}

// holdAndDrain puts a player of the suite in each of 3 shards, then
// lowers minShards to 2: one shard drains, held by its player (and any
// bots in it). It returns that shard, once its drain is confirmed.
func (f *faultRun) holdAndDrain() (shardRef, []*player) {
	f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":3}}'`)
	f.c.Eventually("3 ready shards, none draining", 3*time.Minute, func() (bool, string) {
		st := f.regionStatus()
		return st.ready == 3 && st.shards == 3 && st.draining == 0, fmt.Sprintf("%+v", st)
	})
	ss, err := f.shards()
	f.must(err)
	var holders []*player
	for i, s := range ss {
		holders = append(holders, f.enter(fmt.Sprintf("fault-holder-%d", i), s, false))
	}
	f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":2}}'`)
	var gs shardRef
	f.c.Eventually("a shard's drain confirmed", 2*time.Minute, func() (bool, string) {
		for _, s := range ss {
			if f.drainConfirmed(s.name) {
				gs = s
				return true, ""
			}
		}
		return false, "none yet"
	})
	return gs, holders
}

// operatorMidDrain SIGKILLs the operator while a shard drains; then the
// players holding it leave. Recovery, from the kill: no shard draining,
// the Region at the shards it wants.
func (f *faultRun) operatorMidDrain() time.Duration {
	_, holders := f.holdAndDrain()
	f.must(f.c.KillContainer("gamehall-system", f.podIn("gamehall-system", "app.kubernetes.io/component=operator"), "operator"))
	t0 := time.Now()
	for _, p := range holders {
		p.leave()
	}
	f.c.Eventually("the drain finished", 4*time.Minute, func() (bool, string) {
		st := f.regionStatus()
		return st.draining == 0 && st.shards == 2 && st.ready == 2, fmt.Sprintf("%+v", st)
	})
	return time.Since(t0)
}

// undrain: while a shard drains (held by a player), minShards goes back
// to 3: the same game server takes entries again — not a replacement, no
// failure. Recovery: from the change to the shard open again.
func (f *faultRun) undrain() time.Duration {
	gs, holders := f.holdAndDrain()
	f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":3}}'`)
	t0 := time.Now()
	f.c.Eventually("the same GameServer un-drained", 2*time.Minute, func() (bool, string) {
		return f.undrained(gs.name), fmt.Sprintf("%v", f.gsLabels(gs.name))
	})
	rec := time.Since(t0)
	q := f.enter("fault-after-undrain", gs, false) // it takes entries again
	q.leave()
	for _, p := range holders {
		p.leave()
	}
	if !f.shardRunning(gs.name) {
		f.violate("un-drain: GameServer %s was replaced", gs.name)
	}
	f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"minShards":2}}'`)
	return rec
}

// restartAPIServer stops kube-apiserver for 10 s. Recovery, from its
// start: the operator reconciles again (the Region's status moves on).
func (f *faultRun) restartAPIServer() time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f.must(f.c.CP.RestartAPIServer(ctx, 10*time.Second))
	t0 := time.Now()
	f.c.Shell(`kubectl patch region faults --type merge -p '{"spec":{"scaling":{"scaleDownDelay":"6s"}}}'`)
	f.c.Eventually("the operator reconciling again", 3*time.Minute, func() (bool, string) {
		out, _ := f.c.KubectlOut("get", "region", faultRegion, "-o", "jsonpath={.metadata.generation} {.status.observedGeneration}")
		g := strings.Fields(out)
		return len(g) == 2 && g[0] == g[1], "generation/observed: " + out
	})
	return time.Since(t0)
}
