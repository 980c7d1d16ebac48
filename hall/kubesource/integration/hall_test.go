package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/gameserver"
	"github.com/gamehall/gamehall/hall"
	"github.com/gamehall/gamehall/hall/kubesource"
	"github.com/gamehall/gamehall/presence"
	"github.com/gamehall/gamehall/ticket"
)

// TestHallOnKubernetes: a hall fed by kubesource offers the rooms of a real
// shard once its RoomShard is Ready, and hides them when it drains.
func TestHallOnKubernetes(t *testing.T) {
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, err := ticket.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	pres := presence.NewMemory()
	defer pres.Close()

	shard, err := gameserver.New(gameserver.Config{Shard: "ddz-1-0", Region: "ddz-1", FirstRoom: 1, Rooms: 4, RoomCapacity: 10, TablesPerRoom: 3,
		Addr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0"}, gameserver.Deps{Verifier: keys, Presence: pres, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := shard.Listen(); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { shard.Run(sctx); close(sdone) }()
	defer func() { scancel(); <-sdone }()

	c := env.Client
	region := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "ddz-1", Namespace: ns}, Spec: gamehallv1.RegionSpec{Game: "doudizhu"}}
	if err := c.Create(ctx, region); err != nil {
		t.Fatal(err)
	}
	rs := &gamehallv1.RoomShard{
		ObjectMeta: metav1.ObjectMeta{Name: "ddz-1-0", Namespace: ns},
		Spec:       gamehallv1.RoomShardSpec{Region: "ddz-1", Game: "doudizhu", FirstRoom: 1, Rooms: 4, RoomCapacity: 10, TablesPerRoom: 3},
	}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(shard.Addr().String())
	p, _ := strconv.Atoi(port)
	ihost, iport, _ := net.SplitHostPort(shard.InternalAddr().String())
	ip, _ := strconv.Atoi(iport)
	rs.Status = gamehallv1.RoomShardStatus{Address: host, Port: int32(p), InternalAddress: ihost, InternalPort: int32(ip)}
	meta.SetStatusCondition(&rs.Status.Conditions, metav1.Condition{Type: gamehallv1.ConditionReady, Status: metav1.ConditionTrue, Reason: gamehallv1.ReasonGameServerReady})
	if err := c.Status().Update(ctx, rs); err != nil {
		t.Fatal(err)
	}

	src, err := kubesource.New(env.Config, ns, "", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	h, err := hall.New(hall.Config{}, hall.Deps{Keys: keys, Presence: pres, Source: src, Dial: hall.DialShard, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	hdone := make(chan struct{})
	go func() { h.Run(ctx); close(hdone) }()
	defer func() { cancel(); <-hdone }()

	tok, _ := keys.Sign(ticket.Player("w", "s"), time.Hour)
	var ws *websocket.Conn
	deadline := time.Now().Add(20 * time.Second)
	for { // the region appears once the informers have synced
		ws, _, err = websocket.Dial(ctx, "ws"+srv.URL[4:]+"/v1/regions/ddz-1/watch",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer ws.CloseNow()
	view := map[int]hall.Room{}
	var version uint64
	until := func(what string, cond func() bool) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		for !cond() {
			_, b, err := ws.Read(rctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			var m hall.WatchMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if !m.Apply(view, version) {
				t.Fatalf("delta since %d at version %d", m.Since, version)
			}
			version = m.Version
		}
	}
	until("the shard's 4 rooms", func() bool { return len(view) == 4 && view[1].Port == p && view[1].Address == host })

	rs.Spec.Draining = true
	if err := c.Update(ctx, rs); err != nil {
		t.Fatal(err)
	}
	until("the draining shard's rooms hidden", func() bool { return len(view) == 0 })
}
