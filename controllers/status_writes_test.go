package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// The status a reconciler compares with is the newest it knows of: the
// cache's once it has seen the last write, that write until then.
func TestStatusWritesBase(t *testing.T) {
	at := func(rv string, shards int32) *gamehallv1.Region {
		return &gamehallv1.Region{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r", ResourceVersion: rv},
			Status:     gamehallv1.RegionStatus{Shards: shards},
		}
	}
	for _, tc := range []struct {
		name    string
		written *gamehallv1.Region // nil: nothing written
		cached  *gamehallv1.Region
		want    int32
		kept    bool // the write is still remembered afterwards
	}{
		{"nothing written", nil, at("10", 1), 1, false},
		{"cache older than the write", at("12", 2), at("10", 1), 2, true},
		{"cache older, shorter version", at("100", 2), at("99", 1), 2, true},
		{"cache has the write", at("12", 2), at("12", 2), 2, false},
		{"cache newer than the write", at("12", 2), at("15", 3), 3, false},
		{"versions not comparable", at("12", 2), at("x", 1), 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w statusWrites[gamehallv1.RegionStatus]
			if tc.written != nil {
				w.wrote(tc.written, tc.written.Status)
			}
			if got := w.base(tc.cached, tc.cached.Status); got.Shards != tc.want {
				t.Errorf("base: shards %d, want %d", got.Shards, tc.want)
			}
			if _, kept := w.m[client.ObjectKeyFromObject(tc.cached)]; kept != tc.kept {
				t.Errorf("remembered afterwards: %v, want %v", kept, tc.kept)
			}
		})
	}
	var w statusWrites[gamehallv1.RegionStatus]
	w.wrote(at("12", 2), gamehallv1.RegionStatus{Shards: 2})
	w.forget(client.ObjectKeyFromObject(at("12", 2)))
	if got := w.base(at("10", 1), gamehallv1.RegionStatus{Shards: 1}); got.Shards != 1 {
		t.Errorf("after forget: shards %d, want the cache's 1", got.Shards)
	}
}
