package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
)

// Without the GameServer kind the operator refuses to start and says how to
// install it; with it (as in this suite's control plane) it passes.
func TestCheckAgonesCRD(t *testing.T) {
	g := NewWithT(t)
	empty := meta.NewDefaultRESTMapper(nil)
	err := CheckAgonesCRD(empty)
	g.Expect(err).To(MatchError(And(
		ContainSubstring("the Agones GameServer CRD (gameservers.agones.dev, version v1) is not installed"),
		ContainSubstring("kubectl apply -f config/agones/gameserver-crd.yaml"))))

	withAgones := meta.NewDefaultRESTMapper([]schema.GroupVersion{agonesv1.GroupVersion})
	withAgones.Add(agonesv1.GroupVersion.WithKind("GameServer"), meta.RESTScopeNamespace)
	g.Expect(CheckAgonesCRD(withAgones)).To(Succeed())
}
