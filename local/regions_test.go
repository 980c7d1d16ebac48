package local

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoadSamples(t *testing.T) {
	regions, notes, err := LoadRegions([]string{"../config/samples"})
	if err != nil {
		t.Fatal(err)
	}
	if len(regions) != 2 || regions[1].Region.Name != "doudizhu-zone1-north" {
		t.Fatalf("got %d regions, want South and North", len(regions))
	}
	// The two layouts: South shares the login's database, North has its own.
	if db, err := AccountsDatabase([]string{"../config/samples"}); err != nil || db != "gamehall-db-main" {
		t.Fatalf("accounts database of the samples: %q, %v", db, err)
	}
	if s, n := regions[0].Region.Spec.Database, regions[1].Region.Spec.Database; s == nil || s.SecretName != "gamehall-db-main" || n == nil || n.SecretName != "gamehall-db-north" {
		t.Fatalf("sample databases: %+v, %+v", s, n)
	}
	r := regions[0].Region
	if r.Name != "doudizhu-zone1-south" || r.Spec.Game != "doudizhu" || r.ShardCapacity() != 20000 {
		t.Fatalf("unexpected region %+v", r.Spec)
	}
	if r.Spec.Scaling.ScaleDownDelay.Duration != 5*time.Minute || r.Spec.Scaling.TargetOccupancyPercent != 80 {
		t.Fatalf("scaling spec not read: %+v", r.Spec.Scaling)
	}
	if !strings.HasSuffix(regions[0].Where.File, "gamehall_v1alpha1_region.yaml") || regions[0].Where.Line != 1 {
		t.Fatalf("where = %v", regions[0].Where)
	}
	// The Hall sample is noted, not run.
	var text []string
	for _, n := range notes {
		text = append(text, n.String())
	}
	joined := strings.Join(text, "\n")
	for _, want := range []string{"Hall main"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes %q lack %q", joined, want)
		}
	}
}

const goodRegion = `apiVersion: gamehall.dev/v1alpha1
kind: Region
metadata:
  name: %s
spec:
  game: doudizhu
`

func TestLoadRegions(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		regions []string // names, in order
		wantErr string   // substring; "" = success
		where   string   // "file:line" of the error
		note    string   // substring of some note
	}{
		{
			name:    "defaults applied",
			files:   map[string]string{"a.yaml": strings.ReplaceAll(goodRegion, "%s", "a")},
			regions: []string{"a"},
		},
		{
			name: "multi-document with comments and another kind",
			files: map[string]string{"all.yaml": "# header\n---\n" + strings.ReplaceAll(goodRegion, "%s", "one") +
				"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n---\n" + strings.ReplaceAll(goodRegion, "%s", "two")},
			regions: []string{"one", "two"},
			note:    "ConfigMap cm (v1): skipped",
		},
		{
			name:    "broken YAML points at the file line",
			files:   map[string]string{"b.yaml": strings.ReplaceAll(goodRegion, "%s", "ok") + "---\napiVersion: gamehall.dev/v1alpha1\nkind: Region\nmetadata:\n  name: x\n   bad: [\n"},
			wantErr: "broken YAML",
			where:   "b.yaml:12",
		},
		{
			name:    "min above max refused with the CEL message",
			files:   map[string]string{"c.yaml": "# c\n---\n" + strings.ReplaceAll(goodRegion, "%s", "c") + "  minShards: 5\n  maxShards: 2\n"},
			wantErr: "minShards must not exceed maxShards",
			where:   "c.yaml:3",
		},
		{
			name:    "unknown game refused like the API server",
			files:   map[string]string{"d.yaml": strings.Replace(strings.ReplaceAll(goodRegion, "%s", "d"), "doudizhu", "mahjong", 1)},
			wantErr: `Region.gamehall.dev "d" is invalid`,
			where:   "d.yaml:1",
		},
		{
			name:    "room capacity over the maximum",
			files:   map[string]string{"e.yaml": strings.ReplaceAll(goodRegion, "%s", "e") + "  roomCapacity: 1001\n"},
			wantErr: "spec.roomCapacity",
			where:   "e.yaml:1",
		},
		{
			name:    "duplicate name",
			files:   map[string]string{"f.yaml": strings.ReplaceAll(goodRegion, "%s", "f"), "g.yaml": strings.ReplaceAll(goodRegion, "%s", "f")},
			wantErr: `defined twice (first at `,
			where:   "g.yaml:1",
		},
		{
			name:    "no name",
			files:   map[string]string{"h.yaml": "apiVersion: gamehall.dev/v1alpha1\nkind: Region\nspec:\n  game: doudizhu\n"},
			wantErr: "without metadata.name",
			where:   "h.yaml:1",
		},
		{
			name:    "bad name",
			files:   map[string]string{"i.yaml": strings.ReplaceAll(goodRegion, "%s", "Bad_Name")},
			wantErr: "metadata.name",
			where:   "i.yaml:1",
		},
		{
			name:    "not an object",
			files:   map[string]string{"j.yaml": "- 1\n- 2\n"},
			wantErr: "not a Kubernetes object",
			where:   "j.yaml:1",
		},
		{
			name:    "no kind",
			files:   map[string]string{"k.yaml": "metadata:\n  name: x\n"},
			wantErr: "apiVersion and kind are required",
			where:   "k.yaml:1",
		},
		{
			name:    "only other kinds",
			files:   map[string]string{"l.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"},
			wantErr: "no Region found",
		},
		{
			name:    "no spec",
			files:   map[string]string{"n.yaml": "apiVersion: gamehall.dev/v1alpha1\nkind: Region\nmetadata:\n  name: a\n"},
			wantErr: "has no spec",
			where:   "n.yaml:1",
		},
		{
			name: "kustomization file skipped",
			files: map[string]string{"kustomization.yaml": "resources:\n- r.yaml\n",
				"r.yaml": strings.ReplaceAll(goodRegion, "%s", "r")},
			regions: []string{"r"},
			note:    "kustomization file: skipped",
		},
		{
			name:    "unknown fields are pruned, not fatal",
			files:   map[string]string{"m.yaml": strings.ReplaceAll(goodRegion, "%s", "m") + "  colour: blue\n"},
			regions: []string{"m"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			regions, notes, err := LoadRegions([]string{dir})
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("loaded %d regions; want an error containing %q", len(regions), tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				if tc.where != "" {
					var ie *InputError
					if !errors.As(err, &ie) {
						t.Fatalf("error %q is not an *InputError", err)
					}
					if got := filepath.Base(ie.Where.File) + ":" + itoa(ie.Where.Line); got != tc.where && !strings.Contains(err.Error(), tc.where) {
						t.Fatalf("error at %s (%q); want %s", got, err, tc.where)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range regions {
				names = append(names, r.Region.Name)
				// Defaults from the CRD schema.
				if r.Region.Spec.RoomsPerShard != 50 || r.Region.Spec.RoomCapacity != 400 || r.Region.Spec.MaxShards != 10 ||
					r.Region.Spec.Scaling.TargetOccupancyPercent != 80 {
					t.Errorf("region %s not defaulted: %+v", r.Region.Name, r.Region.Spec)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.regions, ",") {
				t.Fatalf("regions %v, want %v", names, tc.regions)
			}
			if tc.note != "" {
				found := false
				for _, n := range notes {
					found = found || strings.Contains(n.Text, tc.note)
				}
				if !found {
					t.Fatalf("notes %v lack %q", notes, tc.note)
				}
			}
		})
	}
}

func TestLoadRegionsMissingPath(t *testing.T) {
	_, _, err := LoadRegions([]string{filepath.Join(t.TempDir(), "nope.yaml")})
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v; want one naming the missing file", err)
	}
	_, _, err = LoadRegions([]string{t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no .yaml") {
		t.Fatalf("err = %v; want 'no .yaml' for an empty directory", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
