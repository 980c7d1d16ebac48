// Command scalebench measures the operator against the test control plane
// (envtest's etcd and kube-apiserver from `make envtest`; test-only):
//
//  1. a Region of -shards shards is created (minShards = maxShards = -shards);
//     it reports the time until all GameServers exist and until all shards
//     are Ready;
//  2. every shard's game server then reports a new player count every
//     -report (spread evenly), for -duration — with -rooms (the default) its
//     room list too, as the shard does: the players counter and the room
//     annotation, two GameServer writes as in the Agones sidecar; it reports
//     the operator's CPU, its API writes per second by kind, the RoomShard
//     status writes per report, and the reconcile p99 per controller.
//
// The operator runs as its own process (bin/gamehall operator), so its CPU is
// its own; this program plays Agones (moves GameServers to Ready, writes
// their players counter), as the envtest suites do.
//
//	go build -o bin/gamehall ./cmd/gamehall && go run ./hack/scalebench -shards 1000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/controllers"
	"github.com/gamehall/gamehall/gameserver/roomreport"
	"github.com/gamehall/gamehall/internal/testenv"
)

func main() {
	shards := flag.Int("shards", 1000, "shards in the Region")
	report := flag.Duration("report", 5*time.Second, "how often each shard reports its players")
	duration := flag.Duration("duration", 30*time.Second, "length of the reporting phase")
	bin := flag.String("gamehall", "bin/gamehall", "the gamehall binary (go build -o bin/gamehall ./cmd/gamehall)")
	rooms := flag.Bool("rooms", true, "each report also writes the room list annotation, as the game server does")
	profile := flag.String("profile", "", "write the operator's CPU profiles here: scale.pprof (the first -scale-profile of the scale-up) and report.pprof (the reporting phase)")
	scaleProfile := flag.Duration("scale-profile", 20*time.Second, "length of the scale-up profile (the reporting phase's starts after it)")
	flag.Parse()
	if err := run(*shards, *report, *duration, *bin, *rooms, *profile, *scaleProfile); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func run(n int, report, duration time.Duration, bin string, withRooms bool, profileDir string, scaleProfile time.Duration) error {
	ctrl.SetLogger(logr.Discard()) // the informers' chatter is not the measurement
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (build it: go build -o bin/gamehall ./cmd/gamehall)", bin, err)
	}
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	dir, err := os.MkdirTemp("", "scalebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(env, kubeconfig); err != nil {
		return err
	}

	const ns = "bench"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}

	// The operator, as its own process.
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"operator", "--kubeconfig=" + kubeconfig, "--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=127.0.0.1:0", "--namespace=" + ns}
	var pprofAddr string
	if profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return err
		}
		args = append(args, "--pprof-bind-address="+pprofAddr)
	}
	op := exec.CommandContext(ctx, bin, args...)
	logf, err := os.Create(filepath.Join(dir, "operator.log"))
	if err != nil {
		return err
	}
	op.Stdout, op.Stderr = logf, logf
	if err := op.Start(); err != nil {
		return err
	}
	defer func() { _ = op.Process.Kill(); _ = op.Wait() }()

	// Agones stand-in: an informer on GameServers; new ones go Ready.
	informers, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return err
	}
	inf, err := informers.GetInformer(ctx, &agonesv1.GameServer{})
	if err != nil {
		return err
	}
	var created atomic.Int64
	pending := make(chan *agonesv1.GameServer, n*2)
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		gs := o.(*agonesv1.GameServer)
		created.Add(1)
		if gs.Status.State == "" {
			pending <- gs.DeepCopy()
		}
	}}); err != nil {
		return err
	}
	go informers.Start(ctx)
	var port atomic.Int32
	port.Store(7000)
	for w := 0; w < 8; w++ {
		go func() {
			for gs := range pending {
				patch := client.MergeFrom(gs.DeepCopy())
				p := port.Add(1)
				gs.Status.State = agonesv1.GameServerStateReady
				gs.Status.Address = "127.0.0.1"
				gs.Status.Ports = []agonesv1.GameServerStatusPort{{Name: controllers.PlayersPortName, Port: p}}
				gs.Status.Counters = map[string]agonesv1.CounterStatus{controllers.CounterPlayers: {Count: 0, Capacity: gs.Spec.Counters[controllers.CounterPlayers].Capacity}}
				_ = c.Patch(ctx, gs, patch)
			}
		}()
	}

	// The Hall that lists the Region gives its shards their settings (D1).
	hall := &gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		Spec: gamehallv1.HallSpec{Replicas: 0, Login: gamehallv1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub", Guest: true}}}
	if err := c.Create(ctx, hall); err != nil {
		return err
	}
	region := &gamehallv1.Region{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		Spec: gamehallv1.RegionSpec{
			Game: gamehallv1.GameDouDizhu, RoomsPerShard: 50, RoomCapacity: 400, TablesPerRoom: 100,
			MinShards: int32(n), MaxShards: int32(n),
			Scaling:  gamehallv1.ScalingSpec{TargetOccupancyPercent: 80, ScaleDownDelay: &metav1.Duration{Duration: time.Hour}},
			Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gameserver", Image: "gamehall:bench"}}}},
		},
	}
	// Wait for the operator to be up (its metrics endpoint answers).
	if err := waitFor(2*time.Minute, func() bool { _, err := scrape("http://" + metricsAddr + "/metrics"); return err == nil }); err != nil {
		return fmt.Errorf("operator did not start (log: %s): %w", logf.Name(), err)
	}
	var profiles sync.WaitGroup
	defer profiles.Wait()
	scaleProfiled := make(chan struct{}) // the runtime takes one CPU profile at a time
	if profileDir != "" {
		profiles.Go(func() {
			defer close(scaleProfiled)
			cpuProfile(pprofAddr, scaleProfile, filepath.Join(profileDir, "scale.pprof"))
		})
	} else {
		close(scaleProfiled)
	}
	start := time.Now()
	if err := c.Create(ctx, region); err != nil {
		return err
	}
	if err := waitFor(10*time.Minute, func() bool { return created.Load() >= int64(n) }); err != nil {
		return fmt.Errorf("%d of %d GameServers after 10 min", created.Load(), n)
	}
	allGS := time.Since(start)
	if err := waitFor(10*time.Minute, func() bool {
		var r gamehallv1.Region
		return c.Get(ctx, client.ObjectKeyFromObject(region), &r) == nil && r.Status.ReadyShards >= int32(n)
	}); err != nil {
		return fmt.Errorf("not all shards Ready after 10 min")
	}
	allReady := time.Since(start)
	fmt.Printf("scale 0 → %d shards: all GameServers exist after %s, all shards Ready after %s\n", n, allGS.Round(10*time.Millisecond), allReady.Round(10*time.Millisecond))

	// Let the operator settle, then measure the reporting phase.
	time.Sleep(3 * time.Second)
	var gsl agonesv1.GameServerList
	if err := c.List(ctx, &gsl, client.InNamespace(ns)); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	apiBefore, err := apiserverMetrics(ctx, cs)
	if err != nil {
		return err
	}
	opBefore, err := scrape("http://" + metricsAddr + "/metrics")
	if err != nil {
		return err
	}
	cpuBefore, err := cpuSeconds(op.Process.Pid)
	if err != nil {
		return err
	}
	if profileDir != "" {
		profiles.Go(func() {
			<-scaleProfiled // a scale-up profile longer than the scale-up cuts into this one
			cpuProfile(pprofAddr, duration, filepath.Join(profileDir, "report.pprof"))
		})
	}
	t0 := time.Now()
	var reports, skipped atomic.Int64
	var failMu sync.Mutex
	failures := map[string]int{}
	// 16 reporters: a bounded number of requests in flight, so the API server
	// is offered what it can take; ticks that find them all busy are skipped
	// and counted (the achieved rate is printed).
	jobs := make(chan job, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				gs := gsl.Items[j.i]
				// A real change each report: players move between 1,000 and 16,000.
				players := 1000 + (j.round*997+j.i*31)%15000
				patches := []string{fmt.Sprintf(`{"status":{"counters":{"players":{"count":%d,"capacity":20000}}}}`, players)}
				if withRooms {
					ann, _ := json.Marshal(roomsFilled(gs.Labels, players).Encode())
					patches = append(patches, fmt.Sprintf(`{"metadata":{"annotations":{%q:%s}}}`, roomreport.Annotation, ann))
				}
				var err error
				for _, p := range patches {
					if err = c.Patch(ctx, &gs, client.RawPatch("application/merge-patch+json", []byte(p))); err != nil {
						break
					}
				}
				if err == nil {
					reports.Add(1)
				} else {
					failMu.Lock()
					failures[reason(err)]++
					failMu.Unlock()
				}
			}
		}()
	}
	interval := report / time.Duration(len(gsl.Items))
	tick := time.NewTicker(interval)
	for i := 0; time.Since(t0) < duration; i++ {
		<-tick.C
		select {
		case jobs <- job{i: i % len(gsl.Items), round: i / len(gsl.Items)}:
		default:
			skipped.Add(1)
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	// Let the operator work off its queues before the second reading, so
	// every report's write (or its coalescing) is counted.
	sent := time.Since(t0)
	time.Sleep(time.Second)
	_ = waitFor(3*time.Minute, func() bool {
		m, err := scrape("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false
		}
		depth := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, "workqueue_depth{") && (strings.Contains(k, `name="roomshard"`) || strings.Contains(k, `name="region"`)) {
				depth += v
			}
		}
		return depth == 0
	})
	elapsed := time.Since(t0)
	fmt.Printf("operator caught up %s after the last report\n", (elapsed - sent).Round(100*time.Millisecond))
	cpuAfter, _ := cpuSeconds(op.Process.Pid)
	opAfter, _ := scrape("http://" + metricsAddr + "/metrics")
	apiAfter, _ := apiserverMetrics(ctx, cs)

	sec := elapsed.Seconds()
	if len(failures) > 0 {
		fmt.Printf("reports the API server refused (the machine could not keep up): %v\n", failures)
	}
	fmt.Printf("reporting phase: %d shards, one report each per %s offered (%.0f/s); %d reports written in %s (%.0f/s), %d skipped (reporters busy)\n",
		len(gsl.Items), report, float64(len(gsl.Items))/report.Seconds(), reports.Load(), sent.Round(time.Millisecond), float64(reports.Load())/sent.Seconds(), skipped.Load())
	fmt.Printf("operator CPU: %.1f%% of one core (%.2f s CPU in %.1f s)\n", 100*(cpuAfter-cpuBefore)/sec, cpuAfter-cpuBefore, sec)

	writes := func(m metrics, resource, sub string) float64 {
		var sum float64
		for k, v := range m {
			if strings.HasPrefix(k, "apiserver_request_total{") && strings.Contains(k, `resource="`+resource+`"`) && strings.Contains(k, `subresource="`+sub+`"`) &&
				(strings.Contains(k, `verb="PATCH"`) || strings.Contains(k, `verb="POST"`) || strings.Contains(k, `verb="PUT"`) || strings.Contains(k, `verb="DELETE"`) || strings.Contains(k, `verb="APPLY"`)) {
				sum += v
			}
		}
		return sum
	}
	rsStatus := writes(apiAfter, "roomshards", "status") - writes(apiBefore, "roomshards", "status")
	regStatus := writes(apiAfter, "regions", "status") - writes(apiBefore, "regions", "status")
	rs := writes(apiAfter, "roomshards", "") - writes(apiBefore, "roomshards", "")
	gsw := writes(apiAfter, "gameservers", "") - writes(apiBefore, "gameservers", "")
	opWrites := 0.0
	for k, v := range opAfter {
		if strings.HasPrefix(k, "rest_client_requests_total{") && (strings.Contains(k, `method="PATCH"`) || strings.Contains(k, `method="POST"`) || strings.Contains(k, `method="PUT"`) || strings.Contains(k, `method="DELETE"`)) {
			opWrites += v - opBefore[k]
		}
	}
	fmt.Printf("operator API writes: %.1f/s in all; RoomShard status %.1f/s (%.2f per report), Region status %.1f/s, RoomShard spec %.1f/s; GameServer writes (the Agones stand-in's reports included) %.1f/s (%.2f per report; room lists %v)\n",
		opWrites/sec, rsStatus/sec, rsStatus/math.Max(1, float64(reports.Load())), regStatus/sec, rs/sec, gsw/sec, gsw/math.Max(1, float64(reports.Load())), withRooms)
	for _, ctl := range []string{"roomshard", "region"} {
		p50, p99, count := quantiles(opBefore, opAfter, "gamehall_reconcile_duration_seconds", `controller="`+ctl+`"`)
		fmt.Printf("reconcile %s: %d calls, p50 ≤ %s, p99 ≤ %s (histogram bucket bounds)\n", ctl, count, p50, p99)
	}
	// A RoomShard reconcile is mostly its status write's round trip: the
	// API server's own time for those requests, for comparison.
	p50, p99, count := quantiles(apiBefore, apiAfter, "apiserver_request_duration_seconds", `resource="roomshards"`, `subresource="status"`, `verb="PATCH"`)
	fmt.Printf("kube-apiserver PATCH roomshards/status: %d requests, p50 ≤ %s, p99 ≤ %s (its own histogram)\n", count, p50, p99)
	return nil
}

// cpuProfile saves the operator's CPU profile over the next d.
func cpuProfile(addr string, d time.Duration, path string) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalebench: profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalebench: profile:", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench: profile:", err)
		return
	}
	fmt.Printf("operator CPU profile: %s (go tool pprof -top bin/gamehall %s)\n", path, path)
}

func waitFor(limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func writeKubeconfig(env *testenv.Env, path string) error {
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// metrics is one Prometheus text scrape: "name{labels}" → value.
type metrics map[string]float64

func parse(text string) metrics {
	m := metrics{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m
}

func scrape(url string) (metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		return nil, err
	}
	return parse(b.String()), nil
}

func apiserverMetrics(ctx context.Context, cs *kubernetes.Clientset) (metrics, error) {
	b, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	return parse(string(b)), nil
}

// cpuSeconds is a process's user+system CPU time from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// quantiles estimates p50 and p99 of a histogram's observations between two
// scrapes, as the upper bound of the bucket holding them.
func quantiles(before, after metrics, name string, labels ...string) (p50, p99 string, count int) {
	type bucket struct {
		le float64
		n  float64
	}
	var bs []bucket
	for k, v := range after {
		if !strings.HasPrefix(k, name+"_bucket{") || !containsAll(k, labels) {
			continue
		}
		i := strings.Index(k, `le="`)
		le := k[i+4 : i+4+strings.IndexByte(k[i+4:], '"')]
		f, _ := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			f = math.Inf(1)
		}
		bs = append(bs, bucket{f, v - before[k]})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return "-", "-", 0
	}
	total := bs[len(bs)-1].n
	q := func(p float64) string {
		for _, b := range bs {
			if b.n >= p*total {
				if math.IsInf(b.le, 1) {
					return "+Inf"
				}
				return (time.Duration(b.le * float64(time.Second))).String()
			}
		}
		return "+Inf"
	}
	return q(0.5), q(0.99), int(total)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

type job struct{ i, round int }

// roomsFilled is the room report of a shard of 50 rooms × 400 seats with
// players seated room by room, as a shard whose players pick the fullest
// open room: the first rooms full, one partly, the rest empty.
func roomsFilled(labels map[string]string, players int) roomreport.Report {
	idx, _ := strconv.Atoi(labels[gamehallv1.LabelShardIndex])
	r := roomreport.Report{FirstRoom: int32(idx*50 + 1), Capacity: 400, Players: make([]int32, 50)}
	for i := range r.Players {
		n := min(players, 400)
		r.Players[i] = int32(n)
		players -= n
	}
	return r
}

func reason(err error) string {
	if r := apierrors.ReasonForError(err); r != "" {
		return string(r)
	}
	msg := err.Error()
	return msg[strings.LastIndex(msg, ": ")+2:] // drop the per-object URL
}
