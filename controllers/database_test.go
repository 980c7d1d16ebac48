package controllers

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

// A Region's database reaches its shards as GAMEHALL_DATABASE_URL read from
// the Secret (never copied into the GameServer), replacing a template's own;
// a Region without one gets no variable: its games are not rated.
func TestGameServerForDatabase(t *testing.T) {
	g := NewWithT(t)
	rg := region("ns", "r", 0, 1, time.Second)
	rg.Spec.Template.Spec.Containers[0].Env = append(rg.Spec.Template.Spec.Containers[0].Env, envVar(DatabaseURLEnv, "postgres://stale"))
	rg.Spec.Database = &gamehallv1.DatabaseSpec{SecretName: "db-south"}
	gs, err := GameServerFor(newRoomShard(rg, 0), TemplateFor(rg, testSettings, "img:1"), 0)
	g.Expect(err).NotTo(HaveOccurred())
	var got []corev1.EnvVar
	for _, e := range gs.Spec.Template.Spec.Containers[0].Env {
		if e.Name == DatabaseURLEnv {
			got = append(got, e)
		}
	}
	g.Expect(got).To(HaveLen(1))
	g.Expect(got[0].Value).To(BeEmpty())
	g.Expect(got[0].ValueFrom.SecretKeyRef.Name).To(Equal("db-south"))
	g.Expect(got[0].ValueFrom.SecretKeyRef.Key).To(Equal("dsn"))

	rg.Spec.Database, rg.Spec.Template = nil, nil
	gs, err = GameServerFor(newRoomShard(rg, 0), TemplateFor(rg, testSettings, "img:1"), 0)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(slices.ContainsFunc(gs.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == DatabaseURLEnv })).To(BeFalse())
}

// The hall mounts the database Secret of every Region it lists (once per
// Secret, optional, in a stable order) and reads the accounts database URL
// from its Secret.
func TestHallDatabases(t *testing.T) {
	g := NewWithT(t)
	db := func(name, secret, key string) gamehallv1.Region {
		r := *region("ns", name, 0, 1, time.Second)
		if secret != "" {
			r.Spec.Database = &gamehallv1.DatabaseSpec{SecretName: secret, Key: key}
		}
		return r
	}
	regions := []gamehallv1.Region{db("south", "db-main", ""), db("east", "db-main", ""), db("north", "db-north", "url"), db("practice", "", "")}
	v := hallDatabasesVolume(regions)
	g.Expect(v).NotTo(BeNil())
	var paths []string
	for _, src := range v.Projected.Sources {
		g.Expect(*src.Secret.Optional).To(BeTrue())
		paths = append(paths, src.Secret.Name+":"+src.Secret.Items[0].Key+"->"+src.Secret.Items[0].Path)
	}
	g.Expect(paths).To(Equal([]string{"db-main:dsn->db-main/dsn", "db-north:url->db-north/url"}))
	g.Expect(hallDatabasesVolume(regions[3:])).To(BeNil())

	r := &HallReconciler{Config: Config{HallImage: "img:1"}}
	hall := &gamehallv1.Hall{Spec: gamehallv1.HallSpec{Replicas: 1, Login: gamehallv1.LoginSpec{SigningKeySecretName: "keys", VerificationKeySecretName: "keys-pub",
		AccountsDatabase: &gamehallv1.DatabaseSpec{SecretName: "db-main"}}}}
	hall.Name, hall.Namespace = "main", "ns"
	d := r.deployment(hall, "main-hall", labels.Everything(), "", regions)
	c := d.Spec.Template.Spec.Containers[0]
	g.Expect(c.Args).To(ContainElement("--databases-dir=" + HallDatabasesDir))
	g.Expect(c.Env).To(ContainElement(HaveField("Name", AccountsDatabaseURLEnv)))
	g.Expect(c.Env).To(ContainElement(HaveField("ValueFrom.SecretKeyRef.Name", "db-main")))
	g.Expect(c.VolumeMounts).To(ContainElement(corev1.VolumeMount{Name: hallDatabasesVolumeName, MountPath: HallDatabasesDir, ReadOnly: true}))
}
