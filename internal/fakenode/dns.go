package fakenode

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DNS answers what CoreDNS's kubernetes plugin would for Services:
// <service>.<namespace>.svc.cluster.local → its ClusterIP (A records; a
// headless Service → its ready pods' IPs). Other names get NXDOMAIN: pods
// here reach nothing outside the cluster.
type DNS struct {
	Client client.Client
	Log    logr.Logger
	conn   net.PacketConn
}

const clusterDomain = "svc.cluster.local."

// Serve answers on addr (UDP) until ctx ends.
func (d *DNS) Serve(ctx context.Context, addr string) error {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	d.conn = conn
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			// Each answer may take an API round trip: one slow lookup must
			// not hold the others (the pods' resolvers time out after 5 s).
			req := append([]byte(nil), buf[:n]...)
			go func() {
				if resp := d.answer(req); resp != nil {
					conn.WriteTo(resp, from)
				}
			}()
		}
	}()
	return nil
}

func (d *DNS) answer(req []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: dnsmessage.RCodeSuccess}
	name := strings.ToLower(q.Name.String())
	ips, known := d.lookup(name)
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if q.Type == dnsmessage.TypeA {
		for _, ip := range ips {
			var a [4]byte
			copy(a[:], ip.To4())
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: a})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// lookup resolves <svc>.<ns>.svc.cluster.local.
func (d *DNS) lookup(name string) ([]net.IP, bool) {
	rest, ok := strings.CutSuffix(name, "."+clusterDomain)
	if !ok {
		return nil, false
	}
	svcName, ns, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(ns, ".") {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var svc corev1.Service
	if err := d.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: svcName}, &svc); err != nil {
		return nil, false
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.ClusterIP != "" {
		return []net.IP{net.ParseIP(svc.Spec.ClusterIP)}, true
	}
	var pods corev1.PodList
	if err := d.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return nil, true
	}
	var ips []net.IP
	for i := range pods.Items {
		if podReady(&pods.Items[i]) {
			ips = append(ips, net.ParseIP(pods.Items[i].Status.PodIP))
		}
	}
	return ips, true
}
