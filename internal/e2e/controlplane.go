package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ControlPlane is a real etcd and kube-apiserver (bin/k8s, built by `make
// envtest`) set up as a cluster's: a CA of its own, the API server's
// certificate valid for the `kubernetes` Service's ClusterIP (pods reach it
// there), ServiceAccount tokens and admission, RBAC.
type ControlPlane struct {
	Dir        string
	APIServer  string // 127.0.0.1:port
	Kubeconfig string // an admin's (system:masters)
	CA         []byte // PEM
	REST       *rest.Config
	procs      []*proc
}

type proc struct {
	name string
	args []string // how it was started, so it can start again
	cmd  *exec.Cmd
	done chan struct{}
}

// StartControlPlane starts etcd and kube-apiserver with the Service range
// svcCIDR; kubernetesIP (its first address) is in the serving certificate.
func StartControlPlane(ctx context.Context, assets, dir, svcCIDR string, kubernetesIP net.IP, progress func(string, ...any)) (*ControlPlane, error) {
	cp := &ControlPlane{Dir: dir}
	ok := false
	defer func() {
		if !ok {
			cp.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "etcd"), 0o700); err != nil {
		return nil, err
	}
	ca, caKey, err := newCA()
	if err != nil {
		return nil, err
	}
	cp.CA = pemCert(ca)
	files := map[string][]byte{"ca.crt": cp.CA}
	serving, servingKey, err := issue(ca, caKey, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.IPv4(127, 0, 0, 1), kubernetesIP},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return nil, err
	}
	files["apiserver.crt"], files["apiserver.key"] = pemCert(serving), pemKey(servingKey)
	admin, adminKey, err := issue(ca, caKey, pkix.Name{CommonName: "e2e-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return nil, err
	}
	files["admin.crt"], files["admin.key"] = pemCert(admin), pemKey(adminKey)
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files["sa.key"], files["sa.pub"] = pemKey(saKey), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := cp.start(filepath.Join(assets, "etcd"), "etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", "http://127.0.0.1:"+strconv.Itoa(ports[1]), "--unsafe-no-fsync"); err != nil {
		return nil, err
	}
	cp.APIServer = "127.0.0.1:" + strconv.Itoa(ports[2])
	p := func(name string) string { return filepath.Join(dir, name) }
	if err := cp.start(filepath.Join(assets, "kube-apiserver"), "kube-apiserver", "--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", p("certs"), "--tls-cert-file", p("apiserver.crt"), "--tls-private-key-file", p("apiserver.key"),
		"--client-ca-file", p("ca.crt"), "--authorization-mode", "RBAC",
		"--service-account-key-file", p("sa.pub"), "--service-account-signing-key-file", p("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc", "--api-audiences", "https://kubernetes.default.svc",
		"--service-cluster-ip-range", svcCIDR, "--endpoint-reconciler-type", "none"); err != nil {
		return nil, err
	}
	cp.REST = &rest.Config{Host: "https://" + cp.APIServer, QPS: 200, Burst: 400,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.CA, CertData: files["admin.crt"], KeyData: files["admin.key"]}}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cp.REST.Host, CertificateAuthorityData: cp.CA}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: files["admin.crt"], ClientKeyData: files["admin.key"]}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "e2e"
	cp.Kubeconfig = p("kubeconfig")
	if err := clientcmd.WriteToFile(*kc, cp.Kubeconfig); err != nil {
		return nil, err
	}
	progress("control plane starting: etcd %s, kube-apiserver https://%s (Service range %s)", etcdURL, cp.APIServer, svcCIDR)
	if err := cp.waitReady(ctx); err != nil {
		return nil, err
	}
	ok = true
	return cp, nil
}

func (cp *ControlPlane) start(bin, name string, args ...string) error {
	p := &proc{name: name, args: append([]string{bin}, args...)}
	if err := cp.run(p); err != nil {
		return err
	}
	cp.procs = append(cp.procs, p)
	return nil
}

// run starts p's process (again), its output appended to <name>.log.
func (cp *ControlPlane) run(p *proc) error {
	logf, err := os.OpenFile(filepath.Join(cp.Dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w (run 'make envtest')", p.args[0], err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	done := p.done
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	return nil
}

// RestartAPIServer stops kube-apiserver (SIGTERM, as a rolling control
// plane would), leaves it down for down, starts it again on the same
// address with the same certificates, and waits until it is ready. etcd
// keeps the cluster's state meanwhile.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context, down time.Duration) error {
	var p *proc
	for _, q := range cp.procs {
		if q.name == "kube-apiserver" {
			p = q
		}
	}
	if p == nil {
		return fmt.Errorf("no kube-apiserver in this control plane")
	}
	stopProc(p)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	if err := cp.run(p); err != nil {
		return err
	}
	return cp.waitReady(ctx)
}

func stopProc(p *proc) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (cp *ControlPlane) waitReady(ctx context.Context) error {
	hc, err := rest.HTTPClientFor(cp.REST)
	if err != nil {
		return err
	}
	hc.Timeout = 5 * time.Second
	deadline := time.Now().Add(3 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		for _, p := range cp.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited: see its log in %s", filepath.Base(p.cmd.Path), cp.Dir)
			default:
			}
		}
		resp, err := hc.Get(cp.REST.Host + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("/readyz: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver not ready after 3 minutes: %v (logs in %s)", last, cp.Dir)
}

// Stop ends the API server, then etcd.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		stopProc(cp.procs[i])
	}
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gamehall-e2e-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: dns}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemKey(k *ecdsa.PrivateKey) []byte {
	der, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
