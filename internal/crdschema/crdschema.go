// Package crdschema applies a CRD's structural schema offline: pruning,
// defaults, OpenAPI validation and the CEL rules, with the API server's own
// code from k8s.io/apiextensions-apiserver. `gamehall local` uses it so that a
// Region that `kubectl apply` would refuse is refused locally too, with the
// same message.
package crdschema

import (
	"context"
	"fmt"
	"io/fs"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// Schema is one served version of one CRD.
type Schema struct {
	GVK        schema.GroupVersionKind
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// Load reads every CRD in fsys (YAML files matching glob) and returns their
// served versions by GroupVersionKind.
func Load(fsys fs.FS, glob string) (map[schema.GroupVersionKind]*Schema, error) {
	files, err := fs.Glob(fsys, glob)
	if err != nil {
		return nil, err
	}
	out := map[schema.GroupVersionKind]*Schema{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served || v.Schema == nil {
				continue
			}
			s, err := newSchema(v.Schema)
			if err != nil {
				return nil, fmt.Errorf("%s version %s: %w", f, v.Name, err)
			}
			s.GVK = schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
			out[s.GVK] = s
		}
	}
	return out, nil
}

func newSchema(v1 *apiextensionsv1.CustomResourceValidation) (*Schema, error) {
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(v1, internal, nil); err != nil {
		return nil, err
	}
	st, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	return &Schema{structural: st, validator: validator, cel: cel.NewValidator(st, true, celconfig.PerCallLimit)}, nil
}

// Admit prunes unknown fields, applies defaults and validates obj (an
// unstructured object, as decoded from YAML) in place, as the API server does
// on create. The error lists every problem with its field path.
func (s *Schema) Admit(ctx context.Context, obj map[string]any) error {
	structuralpruning.Prune(obj, s.structural, true)
	structuraldefaulting.Default(obj, s.structural)
	errs := apiservervalidation.ValidateCustomResource(nil, obj, s.validator)
	if len(errs) == 0 && s.cel != nil {
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) > 0 {
		return errs.ToAggregate()
	}
	return nil
}

// ErrorList is exported for callers that want the individual field errors.
type ErrorList = field.ErrorList
