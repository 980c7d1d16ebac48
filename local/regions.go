package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	v1 "github.com/gamehall/gamehall/api/v1alpha1"
	"github.com/gamehall/gamehall/config/crd"
	"github.com/gamehall/gamehall/internal/crdschema"
	"github.com/gamehall/gamehall/scaling"
)

// Where is the place of one YAML document: its file and the line it starts on.
type Where struct {
	File string
	Line int
}

func (w Where) String() string { return fmt.Sprintf("%s:%d", w.File, w.Line) }

// InputError is a problem with the Region files, located at a document (or
// at a line inside it, for YAML syntax errors).
type InputError struct {
	Where Where
	Err   error
}

func (e *InputError) Error() string { return e.Where.String() + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// LoadedRegion is a Region admitted exactly as the API server would admit it
// (pruned, defaulted, validated), and where it came from.
type LoadedRegion struct {
	Region v1.Region
	Where  Where
}

// Note tells about a document local mode read and does not run (another
// kind, a kustomization file).
type Note struct {
	Where Where
	Text  string
}

func (n Note) String() string { return n.Where.String() + ": " + n.Text }

var regionGVK = schema.GroupVersionKind{Group: v1.GroupVersion.Group, Version: v1.GroupVersion.Version, Kind: "Region"}

// LoadRegions reads Region documents from files and directories (a directory
// contributes its *.yaml, *.yml and *.json files, not recursively, as
// `kubectl apply -f DIR` does). Each Region goes through the CRD's schema and
// CEL rules, so a Region kubectl would refuse is refused here with the same
// message. The first problem found is returned as an *InputError.
func LoadRegions(paths []string) ([]LoadedRegion, []Note, error) {
	schemas, err := crdschema.Load(crd.Bases, "bases/*.yaml")
	if err != nil {
		return nil, nil, fmt.Errorf("loading the embedded CRDs: %w", err)
	}
	regionSchema := schemas[regionGVK]
	if regionSchema == nil {
		return nil, nil, fmt.Errorf("the embedded CRDs have no %s", regionGVK)
	}
	files, err := expand(paths)
	if err != nil {
		return nil, nil, err
	}
	var (
		out   []LoadedRegion
		notes []Note
		seen  = map[string]Where{}
	)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		base := strings.ToLower(filepath.Base(f))
		if base == "kustomization.yaml" || base == "kustomization.yml" {
			notes = append(notes, Note{Where{f, 1}, "kustomization file: skipped (local mode reads the objects themselves)"})
			continue
		}
		for _, doc := range splitDocuments(b) {
			where := Where{f, doc.line}
			r, note, err := admitDocument(regionSchema, doc)
			if err != nil {
				var le *lineError
				if errors.As(err, &le) && le.line > 0 {
					where.Line = le.line
				}
				return nil, nil, &InputError{where, err}
			}
			if note != "" {
				notes = append(notes, Note{where, note})
				continue
			}
			if r == nil {
				continue // empty document
			}
			if prev, dup := seen[r.Name]; dup {
				return nil, nil, &InputError{where, fmt.Errorf("Region %q is defined twice (first at %s)", r.Name, prev)}
			}
			seen[r.Name] = where
			out = append(out, LoadedRegion{Region: *r, Where: where})
		}
	}
	if len(out) == 0 {
		return nil, notes, fmt.Errorf("no Region found in %s", strings.Join(paths, ", "))
	}
	return out, notes, nil
}

// expand turns the -f arguments into a sorted list of files.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var in []string
		for _, e := range ents {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					in = append(in, filepath.Join(p, e.Name()))
				}
			}
		}
		if len(in) == 0 {
			return nil, fmt.Errorf("%s: no .yaml, .yml or .json files", p)
		}
		sort.Strings(in)
		files = append(files, in...)
	}
	return files, nil
}

type document struct {
	text []byte
	line int // 1-based line of the document's first line in its file
}

// splitDocuments splits a multi-document YAML stream on "---" lines,
// remembering where each document starts so errors can point at it.
func splitDocuments(b []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(b, []byte("\n"))
	start := 0
	var cur bytes.Buffer
	for i, l := range lines {
		t := bytes.TrimRight(l, " \t\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) {
			docs = append(docs, document{bytes.Clone(cur.Bytes()), start + 1})
			cur.Reset()
			start = i + 1
			continue
		}
		cur.Write(l)
	}
	docs = append(docs, document{bytes.Clone(cur.Bytes()), start + 1})
	return docs
}

// lineError is an error at a known line of the file.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

// yamlLine finds "line N" in a YAML parser error, to make it file-relative.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// admitDocument decodes one document. It returns the admitted Region, or a
// note when the document is another kind, or nil, "" for an empty document.
func admitDocument(s *crdschema.Schema, doc document) (*v1.Region, string, error) {
	js, err := yaml.YAMLToJSON(doc.text)
	if err != nil {
		// Point at the offending line of the file, not of the document.
		line := 0
		msg := yamlLine.ReplaceAllStringFunc(err.Error(), func(m string) string {
			n, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
			line = n + doc.line - 1
			return fmt.Sprintf("line %d", line)
		})
		return nil, "", &lineError{line, fmt.Errorf("broken YAML: %s", strings.TrimPrefix(msg, "error converting YAML to JSON: "))}
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || bytes.Equal(js, []byte("null")) {
		return nil, "", nil
	}
	var obj map[string]any
	// utiljson decodes integers as int64, as the API server does; the schema
	// validator tells integer from number by Go type.
	if err := utiljson.Unmarshal(js, &obj); err != nil {
		return nil, "", fmt.Errorf("not a Kubernetes object (want a mapping with apiVersion and kind): %v", err)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return nil, "", errors.New("not a Kubernetes object: apiVersion and kind are required")
	}
	name := ""
	if md, ok := obj["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	if apiVersion != v1.GroupVersion.String() || kind != "Region" {
		label := kind
		if name != "" {
			label += " " + name
		}
		return nil, fmt.Sprintf("%s (%s): skipped, local mode runs Regions only", label, apiVersion), nil
	}
	if name == "" {
		return nil, "", errors.New("Region without metadata.name")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, "", fmt.Errorf("Region %q: metadata.name: %s", name, strings.Join(errs, "; "))
	}
	if err := s.Admit(context.Background(), obj); err != nil {
		// The API server's wording: `Region.gamehall.dev "x" is invalid: ...`.
		return nil, "", fmt.Errorf("Region.%s %q is invalid: %v", v1.GroupVersion.Group, name, err)
	}
	pruned, err := json.Marshal(obj)
	if err != nil {
		return nil, "", err
	}
	r := &v1.Region{}
	if err := json.Unmarshal(pruned, r); err != nil {
		return nil, "", fmt.Errorf("Region %q: %v", name, err)
	}
	// The schema does not require spec itself, so a Region without one
	// passes admission with nothing defaulted; it cannot be run.
	if r.Spec.Game == "" {
		return nil, "", fmt.Errorf("Region %q has no spec: spec.game is required", name)
	}
	if err := scaling.PolicyOf(r).Validate(); err != nil {
		return nil, "", fmt.Errorf("Region %q: %v", name, err)
	}
	return r, "", nil
}

// AccountsDatabase returns the Secret name of the login's database that a
// Hall in the files names (spec.login.accountsDatabase.secretName), so that
// local mode lays its data files out as the cluster lays its databases:
// Regions naming the same Secret share the login's file. "" when no Hall
// names one; an error when two Halls name different ones (local mode runs
// one login).
func AccountsDatabase(paths []string) (string, error) {
	files, err := expand(paths)
	if err != nil {
		return "", err
	}
	name, from := "", Where{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		for _, doc := range splitDocuments(b) {
			var h v1.Hall
			if yaml.Unmarshal(doc.text, &h) != nil || h.Kind != "Hall" || h.Spec.Login.AccountsDatabase == nil {
				continue // LoadRegions reports broken documents
			}
			where := Where{f, doc.line}
			switch n := h.Spec.Login.AccountsDatabase.SecretName; {
			case name == "":
				name, from = n, where
			case n != name:
				return "", &InputError{where, fmt.Errorf("Hall %q names accounts database %q, another Hall %q (at %s): local mode runs one login", h.Name, n, name, from)}
			}
		}
	}
	return name, nil
}
