package kubesource

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func shard(mod func(*gamehallv1.RoomShard)) gamehallv1.RoomShard {
	s := gamehallv1.RoomShard{
		ObjectMeta: metav1.ObjectMeta{Name: "ddz-1-0"},
		Spec:       gamehallv1.RoomShardSpec{Region: "ddz-1", Game: "doudizhu", FirstRoom: 51, Rooms: 50, RoomCapacity: 400, TablesPerRoom: 100},
		Status: gamehallv1.RoomShardStatus{
			Address: "203.0.113.7", Port: 7000, InternalAddress: "10.0.0.7", InternalPort: 7001,
			Conditions: []metav1.Condition{{Type: gamehallv1.ConditionReady, Status: metav1.ConditionTrue}},
		},
	}
	if mod != nil {
		mod(&s)
	}
	return s
}

func TestShardInfo(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name            string
		mod             func(*gamehallv1.RoomShard)
		ready, draining bool
	}{
		{"ready", nil, true, false},
		{"not ready condition", func(s *gamehallv1.RoomShard) { s.Status.Conditions[0].Status = metav1.ConditionFalse }, false, false},
		{"no conditions", func(s *gamehallv1.RoomShard) { s.Status.Conditions = nil }, false, false},
		{"no address", func(s *gamehallv1.RoomShard) { s.Status.Address = "" }, false, false},
		{"no internal port", func(s *gamehallv1.RoomShard) { s.Status.InternalPort = 0 }, false, false},
		{"draining spec", func(s *gamehallv1.RoomShard) { s.Spec.Draining = true }, true, true},
		{"draining condition", func(s *gamehallv1.RoomShard) {
			s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: gamehallv1.ConditionDraining, Status: metav1.ConditionTrue})
		}, true, true},
		{"being deleted", func(s *gamehallv1.RoomShard) { s.DeletionTimestamp = &now }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := shard(tt.mod)
			info := ShardInfo(&sh)
			if info.Ready != tt.ready || info.Draining != tt.draining {
				t.Fatalf("ready %v draining %v, want %v %v", info.Ready, info.Draining, tt.ready, tt.draining)
			}
		})
	}
	sh := shard(nil)
	info := ShardInfo(&sh)
	if info.InternalURL != "http://10.0.0.7:7001" || info.Address != "203.0.113.7" || info.Port != 7000 ||
		info.FirstRoom != 51 || info.Rooms != 50 || info.RoomCapacity != 400 || info.Region != "ddz-1" {
		t.Fatalf("info %+v", info)
	}
	sh.Status.InternalAddress = "fd00::7"
	if got := ShardInfo(&sh).InternalURL; got != "http://[fd00::7]:7001" {
		t.Fatalf("IPv6 internal URL %q", got)
	}
}

func TestConvert(t *testing.T) {
	now := metav1.Now()
	regions := []gamehallv1.Region{
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: gamehallv1.RegionSpec{Game: "doudizhu"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: gamehallv1.RegionSpec{Game: "doudizhu", DisplayName: "Zone A"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gone", DeletionTimestamp: &now}},
	}
	top := Convert(regions, []gamehallv1.RoomShard{shard(nil)})
	if len(top.Regions) != 2 || top.Regions[0].Name != "a" || top.Regions[0].DisplayName != "Zone A" || top.Regions[1].DisplayName != "b" {
		t.Fatalf("regions %+v", top.Regions)
	}
	if len(top.Shards) != 1 || !top.Shards[0].Ready {
		t.Fatalf("shards %+v", top.Shards)
	}
}
