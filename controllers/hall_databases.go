package controllers

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// HallDatabasesDir is where a hall finds the URL of each listed Region's
// database: the file <dir>/<secretName>/<key> (DatabaseSpec.File).
const HallDatabasesDir = "/etc/gamehall/databases"

// AccountsDatabaseURLEnv carries the Hall's accounts database URL from its
// Secret into the hall container.
const AccountsDatabaseURLEnv = "GAMEHALL_ACCOUNTS_DATABASE_URL"

const hallDatabasesVolumeName = "databases"

// hallDatabasesVolume projects the database Secrets of the Regions a hall
// lists into one volume, so the hall serves their leaderboards. Each is
// optional: a missing Secret leaves that Region's leaderboard unavailable
// (the hall says so) instead of keeping the hall from starting. Nil when no
// Region names a database.
func hallDatabasesVolume(regions []gamehallv1.Region) *corev1.Volume {
	seen := map[string]gamehallv1.DatabaseSpec{}
	for _, r := range regions {
		if d := r.Spec.Database; d != nil {
			seen[d.File()] = *d
		}
	}
	if len(seen) == 0 {
		return nil
	}
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths) // a stable pod template: no rollout without a change
	optional := true
	var sources []corev1.VolumeProjection
	for _, p := range paths {
		d := seen[p]
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: d.SecretName},
			Items:                []corev1.KeyToPath{{Key: d.KeyOrDefault(), Path: p}},
			Optional:             &optional,
		}})
	}
	return &corev1.Volume{Name: hallDatabasesVolumeName, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: sources}}}
}
