package v1alpha1_test

import (
	"os"
	"testing"

	"github.com/gamehall/gamehall/internal/testenv"
)

// env is a real kube-apiserver + etcd with the CRDs installed: the schema,
// defaults and CEL rules under test are the API server's, not a copy.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }
