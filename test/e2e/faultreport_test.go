//go:build e2e

package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gamehall/gamehall/bot"
	"github.com/gamehall/gamehall/internal/e2e"
)

// report is the suite's table and the violations found.
type faultReport struct {
	table      string
	violations []string
}

var zeroSumRE = regexp.MustCompile(`zero-sum in (\d+), not in (\d+)`)

func (f *faultRun) report(scenarios []*scenario, r e2e.BotResult, eventFiles ...string) faultReport {
	evs := readEvents(f.t, append(eventFiles, f.c.Dir+"/bot-events-burst.jsonl")...)
	for _, e := range evs {
		switch {
		case e.Kind == bot.EvCut:
			f.violations = append(f.violations, violation{e.Time, fmt.Sprintf("player %s cut by shard %s (%s): %s", e.Account, e.Shard, e.Code, e.Detail)})
		case e.Kind == bot.EvKicked:
			f.violations = append(f.violations, violation{e.Time, fmt.Sprintf("player %s kicked by %s (%s): %s", e.Account, e.Shard, e.Code, e.Detail)})
		case e.Kind == bot.EvResumeFailed && !f.killedAddr[e.Shard]:
			f.violations = append(f.violations, violation{e.Time, fmt.Sprintf("player %s did not get its seat back on %s, which the suite spared: %s", e.Account, e.Shard, e.Detail)})
		}
	}
	zeroSum := "?"
	if m := zeroSumRE.FindStringSubmatch(r.Summary); m != nil {
		zeroSum = m[1] + " zero-sum, " + m[2] + " not"
		if m[2] != "0" {
			f.violations = append(f.violations, violation{time.Now(), "games not zero-sum: " + m[2]})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | injected | violations (cut · two places · over capacity · seat not resumed) | recovery |\n| --- | --- | --- | ---: |\n")
	count := func(from, to time.Time) string {
		var cut, twice, over, resume, other int
		for _, v := range f.violations {
			if v.at.Before(from) || v.at.After(to) {
				continue
			}
			switch {
			case strings.Contains(v.what, " cut ") || strings.Contains(v.what, "kicked"):
				cut++
			case strings.Contains(v.what, "two places") || strings.Contains(v.what, "two halls"):
				twice++
			case strings.Contains(v.what, "capacity"):
				over++
			case strings.Contains(v.what, "seat back"):
				resume++
			default:
				other++
			}
		}
		s := fmt.Sprintf("%d · %d · %d · %d", cut, twice, over, resume)
		if other > 0 {
			s += fmt.Sprintf(" (+%d other)", other)
		}
		return s
	}
	for _, s := range scenarios {
		rec := s.recovery.Round(100 * time.Millisecond)
		if s.recovery < time.Second {
			rec = s.recovery.Round(time.Millisecond)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", s.name, s.injected, count(s.start, s.end), rec)
	}
	var drops, resumes, back, cutKilled int
	var resumeMs []int64
	for _, e := range evs {
		switch e.Kind {
		case bot.EvDropped:
			drops++
		case bot.EvResumed:
			resumes++
			resumeMs = append(resumeMs, e.Millis)
		case bot.EvBackToHall:
			back++
		case bot.EvResumeFailed:
			if f.killedAddr[e.Shard] {
				cutKilled++
			}
		}
	}
	sort.Slice(resumeMs, func(i, j int) bool { return resumeMs[i] < resumeMs[j] })
	p50 := int64(0)
	if len(resumeMs) > 0 {
		p50 = resumeMs[len(resumeMs)/2]
	}
	var first, last time.Time
	if len(scenarios) > 0 {
		first, last = scenarios[0].start, scenarios[len(scenarios)-1].end
	}
	fmt.Fprintf(&b, "| all along | bots dropping their connection mid-game (mean 20 s) and resuming: %d drops, %d seats resumed (p50 %d ms), %d back to the hall (%d from the killed shard) | %s | — |\n",
		drops, resumes, p50, back, cutKilled, count(first.Add(-time.Hour), last.Add(time.Hour)))
	fmt.Fprintf(&b, "\nGames: %d finished, %s; peak %d players; bot protocol errors %d.\n", r.Games, zeroSum, f.peak, r.ProtocolErrors)
	fmt.Fprintf(&b, "%s\n", f.inOtherRoom(evs))
	var out []string
	for _, v := range f.violations {
		out = append(out, v.at.Format("15:04:05.000")+" "+v.what)
	}
	sort.Strings(out)
	return faultReport{table: b.String(), violations: out}
}

// inOtherRoom counts the room entries refused IN_OTHER_ROOM, and those of
// players whose connection a killed shard took: presence held their entry
// until the dead process's liveness lapsed; the last one says how long.
func (f *faultRun) inOtherRoom(evs []bot.Event) string {
	lost := map[string]time.Time{} // account → when a killed shard took its connection
	n, killed := 0, 0
	var longest time.Duration
	evs = append([]bot.Event(nil), evs...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	for _, e := range evs {
		switch {
		case e.Kind == bot.EvLost && f.killedAddr[e.Shard]:
			lost[e.Account] = e.Time
		case e.Kind == bot.EvInOtherRoom:
			n++
			if at, ok := lost[e.Account]; ok {
				killed++
				longest = max(longest, e.Time.Sub(at))
			}
		}
	}
	return fmt.Sprintf("IN_OTHER_ROOM refusals: %d; %d of them to players of a killed shard, the last %v after it took their connection; its %d seated players were in rooms again %v after the kill.",
		n, killed, longest.Round(100*time.Millisecond), f.reseatedN, f.reseated.Round(100*time.Millisecond))
}

func readEvents(t testing.TB, files ...string) []bot.Event {
	var out []bot.Event
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			continue // a run that never started these bots
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var e bot.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			out = append(out, e)
		}
		fh.Close()
	}
	return out
}
