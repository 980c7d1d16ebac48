package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

func TestSettingsFor(t *testing.T) {
	mk := func(name, redis, keys string, sel map[string]string) gamehallv1.Hall {
		h := gamehallv1.Hall{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: gamehallv1.HallSpec{Login: gamehallv1.LoginSpec{SigningKeySecretName: keys + "-signing", VerificationKeySecretName: keys}, Presence: gamehallv1.PresenceSpec{RedisAddress: redis}}}
		if sel != nil {
			h.Spec.RegionSelector = &metav1.LabelSelector{MatchLabels: sel}
		}
		return h
	}
	dou := map[string]string{"gamehall.dev/game": "doudizhu"}
	poker := map[string]string{"gamehall.dev/game": "poker"}
	deleting := mk("old", "other:1", "other", nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = []string{"x"}
	bad := mk("bad", "r:1", "k", nil)
	bad.Spec.RegionSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}

	tests := []struct {
		name       string
		halls      []gamehallv1.Hall
		want       HallSettings
		wantReason string   // "" : no error
		msgHas     []string // parts of the error message
	}{
		{name: "no Hall at all", wantReason: gamehallv1.ReasonNoHall,
			msgHas: []string{`no Hall in namespace "ns" lists this Region (labels "gamehall.dev/game=doudizhu")`, "create a Hall whose spec.regionSelector matches"}},
		{name: "a Hall of another game is named with its selector", halls: []gamehallv1.Hall{mk("poker", "r:1", "k", poker), bad},
			wantReason: gamehallv1.ReasonNoHall, msgHas: []string{"(bad (invalid regionSelector); poker selects gamehall.dev/game=poker)"}},
		{name: "the matching Hall", halls: []gamehallv1.Hall{mk("poker", "p:1", "pk", poker), mk("main", "r:1", "k", dou)},
			want: HallSettings{Hall: "main", RedisAddress: "r:1", VerificationKeySecret: "k"}},
		{name: "an empty selector lists every Region", halls: []gamehallv1.Hall{mk("all", "", "k", nil)},
			want: HallSettings{Hall: "all", VerificationKeySecret: "k"}},
		{name: "Halls that agree: the first by name", halls: []gamehallv1.Hall{mk("b", "r:1", "k", dou), mk("a", "r:1", "k", nil)},
			want: HallSettings{Hall: "a", RedisAddress: "r:1", VerificationKeySecret: "k"}},
		{name: "a Hall being deleted no longer counts", halls: []gamehallv1.Hall{deleting, mk("main", "r:1", "k", dou)},
			want: HallSettings{Hall: "main", RedisAddress: "r:1", VerificationKeySecret: "k"}},
		{name: "Halls with different Redis", halls: []gamehallv1.Hall{mk("b", "rb:1", "k", nil), mk("a", "ra:1", "k", dou)},
			wantReason: gamehallv1.ReasonConflictingHalls,
			msgHas:     []string{`Halls "a" and "b" both list this Region`, `presence.redisAddress "ra:1" vs "rb:1"`, "narrow a regionSelector"}},
		{name: "Halls with different keys", halls: []gamehallv1.Hall{mk("a", "r:1", "ka", nil), mk("b", "r:1", "kb", dou)},
			wantReason: gamehallv1.ReasonConflictingHalls, msgHas: []string{`login.verificationKeySecretName "ka" vs "kb"`}},
	}
	region := &gamehallv1.Region{ObjectMeta: metav1.ObjectMeta{Name: "south", Namespace: "ns", Labels: dou}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SettingsFor(region, tt.halls)
			if tt.wantReason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("SettingsFor = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var se *HallSettingsError
			if !errors.As(err, &se) || se.Reason != tt.wantReason {
				t.Fatalf("SettingsFor error = %v; want reason %s", err, tt.wantReason)
			}
			if reasonOf(err) != tt.wantReason {
				t.Errorf("reasonOf = %s", reasonOf(err))
			}
			for _, part := range tt.msgHas {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message %q lacks %q", err, part)
				}
			}
		})
	}
}
