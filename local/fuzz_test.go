package local

import (
	"strings"
	"testing"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/config/crd"
	"github.com/gamehall/gamehall/internal/crdschema"
	"github.com/gamehall/gamehall/scaling"
)

// FuzzAdmitDocument feeds arbitrary bytes (a user's YAML file) through the
// splitter and the admission of each document: no panic, and whatever is
// admitted is a valid Region.
func FuzzAdmitDocument(f *testing.F) {
	schemas, err := crdschema.Load(crd.Bases, "bases/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	s := schemas[regionGVK]
	for _, seed := range []string{
		strings.ReplaceAll(goodRegion, "%s", "a"),
		strings.ReplaceAll(goodRegion, "%s", "a") + "---\n" + strings.ReplaceAll(goodRegion, "%s", "b"),
		"apiVersion: v1\nkind: ConfigMap\n",
		"- 1\n- 2\n",
		"a: [\n",
		"---\n---\n",
		"apiVersion: gamehall.dev/v1alpha1\nkind: Region\nmetadata:\n  name: x\nspec:\n  game: doudizhu\n  minShards: 9\n  maxShards: 1\n",
		"{\"apiVersion\":\"gamehall.dev/v1alpha1\",\"kind\":\"Region\",\"metadata\":{\"name\":\"j\"},\"spec\":{\"game\":\"doudizhu\",\"roomCapacity\":1.5}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, doc := range splitDocuments(b) {
			r, note, err := admitDocument(s, doc)
			if err != nil || note != "" || r == nil {
				continue
			}
			if r.Spec.Game != v1.GameDouDizhu || r.Spec.MinShards > r.Spec.MaxShards || r.ShardCapacity() <= 0 || r.ShardCapacity() > 100000 {
				t.Fatalf("admitted an invalid Region: %+v", r.Spec)
			}
			if p := scaling.PolicyOf(r); p.Validate() != nil {
				t.Fatalf("admitted Region has an invalid policy: %v", p.Validate())
			}
		}
	})
}
