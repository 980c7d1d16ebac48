package main

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func TestWriteRooms(t *testing.T) {
	doc := roomsDoc{Region: "south", Version: 42, Players: 423, Capacity: 1200, Rooms: []roomDoc{
		{Room: 3, Shard: "south-1", Players: 400, Capacity: 400},
		{Room: 1, Shard: "south-0", Players: 23, Capacity: 400},
		{Room: 2, Shard: "south-0", Players: 0, Capacity: 400},
	}}
	tests := []struct {
		state string
		want  string
	}{
		{"", `ROOM   SHARD     PLAYERS   CAPACITY   FREE   STATE
1      south-0   23        400        377    Open
2      south-0   0         400        400    Open
3      south-1   400       400        0      Full
Region south: 3 rooms offered, 1 full; 423 players in 1200 seats (Hall default/main, version 42)
`},
		{"full", `ROOM   SHARD     PLAYERS   CAPACITY   FREE   STATE
3      south-1   400       400        0      Full
Region south: 3 rooms offered, 1 full; 423 players in 1200 seats (Hall default/main, version 42)
`},
		{"open", `ROOM   SHARD     PLAYERS   CAPACITY   FREE   STATE
1      south-0   23        400        377    Open
2      south-0   0         400        400    Open
Region south: 3 rooms offered, 1 full; 423 players in 1200 seats (Hall default/main, version 42)
`},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if err := writeRooms(&b, doc, tc.state, "Hall default/main"); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("state %q:\n%s\nwant:\n%s", tc.state, b.String(), tc.want)
		}
	}
	if doc.Rooms[0].Room != 3 {
		t.Error("writeRooms sorted the caller's rooms")
	}
}

func TestWriteTop(t *testing.T) {
	draining := []metav1.Condition{{Type: gamehallv1.ConditionDraining, Status: metav1.ConditionTrue, Reason: gamehallv1.ReasonDrainConfirmed}}
	notDraining := []metav1.Condition{{Type: gamehallv1.ConditionDraining, Status: metav1.ConditionFalse, Reason: gamehallv1.ReasonNotDraining}}
	regions := []gamehallv1.Region{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "games", Name: "south"}, Status: gamehallv1.RegionStatus{
			Shards: 3, ReadyShards: 2, DesiredShards: 2, UpdatedShards: 2, OutdatedShards: 1, DrainingShards: 1,
			Players: 450, Capacity: 1600, Occupancy: "28%", Hall: "main", TemplateHash: "new"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "games", Name: "east"}},
	}
	shard := func(name string, index int32, players int64, full int32, state, hash string, conds []metav1.Condition) gamehallv1.RoomShard {
		return gamehallv1.RoomShard{ObjectMeta: metav1.ObjectMeta{Namespace: "games", Name: name},
			Spec:   gamehallv1.RoomShardSpec{Region: "south", Index: index},
			Status: gamehallv1.RoomShardStatus{Rooms: "1-2", Players: players, Capacity: 800, FullRooms: full, State: state, TemplateHash: hash, Conditions: conds}}
	}
	shards := []gamehallv1.RoomShard{
		shard("south-2", 2, 0, 0, "Scheduled", "", nil),
		shard("south-0", 0, 50, 0, "Allocated", "old", draining),
		shard("south-1", 1, 400, 1, "Allocated", "new", notDraining),
	}
	var b bytes.Buffer
	if err := writeTop(&b, regions, shards, false); err != nil {
		t.Fatal(err)
	}
	want := `REGION   SHARDS   READY   UP-TO-DATE   DRAINING   PLAYERS   CAPACITY   OCCUPANCY   FULL ROOMS   HALL
east     0        0/0     0            0          0         0          -           0            -
south    3        2/2     2            1          450       1600       28%         1            main

SHARD     REGION   ROOMS   PLAYERS   CAPACITY   FULL   STATE       DRAIN            UP-TO-DATE
south-0   south    1-2     50        800        0      Allocated   DrainConfirmed   no
south-1   south    1-2     400       800        1      Allocated   -                yes
south-2   south    1-2     0         800        0      Scheduled   -                -
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := writeTop(&b, regions[:1], nil, true); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "NAMESPACE   REGION") || !strings.Contains(b.String(), "games       south") {
		t.Errorf("with namespaces:\n%s", b.String())
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "", "kubectl gamehall rooms REGION"},
		{[]string{"help"}, 0, "kubectl gamehall top [flags]", ""},
		{[]string{"help", "rooms"}, 0, "service proxy", ""},
		{[]string{"rooms", "--help"}, 0, "Columns: ROOM", ""},
		{[]string{"top", "-h"}, 0, "UP-TO-DATE", ""},
		{[]string{"lobby"}, 2, "", `unknown command "lobby": use rooms or top`},
		{[]string{"rooms"}, 2, "", "name one Region"},
		{[]string{"rooms", "a", "b"}, 2, "", "name one Region"},
		{[]string{"rooms", "south", "--state", "busy"}, 2, "", "--state must be full or open"},
		{[]string{"top", "south"}, 2, "", "takes no arguments"},
		{[]string{"rooms", "south", "-o", "yaml"}, 2, "", "-o must be table or json"},
		{[]string{"rooms", "south", "-A"}, 2, "", "pick it with -n"},
		{[]string{"top", "-o", "json"}, 2, "", "are rooms' flags"},
		{[]string{"top", "--state", "full"}, 2, "", "are rooms' flags"},
		{[]string{"top", "--state", "busy"}, 2, "", "are rooms' flags"},
		{[]string{"top", "--bogus"}, 2, "", "flag provided but not defined: -bogus (kubectl gamehall help top)"},
		{[]string{"top", "--kubeconfig", "/nonexistent/kubeconfig"}, 1, "", "/nonexistent/kubeconfig"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("%q: code %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out, tc.err)
		}
	}
}
