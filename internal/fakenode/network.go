package fakenode

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Network is one run's private pod network: a Linux bridge gh<slot>-br with
// the node's address 10.244.<slot>.1, pods in network namespaces
// gh<slot>-<n> on 10.244.<slot>.0/24, and the Service range
// 10.96.<slot>.0/24 routed to this host (`ip route add local`), where the
// stand-in's Service proxy and DNS listen on the ClusterIPs. A slot is held
// with a lock file, so parallel runs (other engineers, CI) never share
// addresses; a crashed run's leftovers are removed by the next holder.
type Network struct {
	Slot   int
	NodeIP net.IP     // the bridge: pods' gateway and the node's address (hostPorts)
	Pods   *net.IPNet // 10.244.<slot>.0/24
	Svcs   *net.IPNet // 10.96.<slot>.0/24: the API server's --service-cluster-ip-range
	lock   *os.File

	mu   sync.Mutex
	used map[int]string // host byte of a pod IP → netns name
	last int            // host byte given last: addresses go round (see NewSandbox)
}

// Slots is how many runs can have a network at once.
const Slots = 64

const lockDir = "/tmp/gamehall-fakenode"

// ClaimNetwork takes a free slot and builds its bridge and Service route.
// It needs root and iproute2 (`ip`).
func ClaimNetwork() (*Network, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the node stand-in needs root: it gives each pod a network namespace (ip netns)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("the node stand-in needs iproute2's `ip`: apt-get install iproute2 (hack/ensure-deps.sh ip)")
	}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, err
	}
	for slot := 0; slot < Slots; slot++ {
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("slot-%d.lock", slot)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		n := &Network{Slot: slot, lock: f, used: map[int]string{}}
		n.NodeIP = net.IPv4(10, 244, byte(slot), 1).To4()
		_, n.Pods, _ = net.ParseCIDR(fmt.Sprintf("10.244.%d.0/24", slot))
		_, n.Svcs, _ = net.ParseCIDR(fmt.Sprintf("10.96.%d.0/24", slot))
		n.cleanup()
		if err := n.setup(); err != nil {
			n.Close()
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("all %d network slots are in use (locks in %s)", Slots, lockDir)
}

func (n *Network) prefix() string { return fmt.Sprintf("gh%d-", n.Slot) }
func (n *Network) bridge() string { return n.prefix() + "br" }

func (n *Network) setup() error {
	for _, args := range [][]string{
		{"link", "add", n.bridge(), "type", "bridge", "forward_delay", "0"},
		{"addr", "add", n.NodeIP.String() + "/24", "dev", n.bridge()},
		{"link", "set", n.bridge(), "up"},
		{"route", "add", "local", n.Svcs.String(), "dev", "lo", "table", "local"},
	} {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// cleanup removes what a run in this slot may have left: namespaces, the
// bridge, the route, per-namespace resolv.conf files.
func (n *Network) cleanup() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, n.prefix()) {
			_ = ipCmd("netns", "del", name)
			os.RemoveAll(filepath.Join("/etc/netns", name))
		}
	}
	_ = ipCmd("link", "del", n.bridge())
	_ = ipCmd("route", "del", "local", n.Svcs.String(), "dev", "lo", "table", "local")
}

// Close removes the network and frees the slot.
func (n *Network) Close() {
	n.cleanup()
	if n.lock != nil {
		n.lock.Close()
	}
}

// ServiceIP is the i-th address of the Service range (1: the `kubernetes`
// Service, 10: the cluster DNS).
func (n *Network) ServiceIP(i int) net.IP { return net.IPv4(10, 96, byte(n.Slot), byte(i)).To4() }

// Sandbox is one pod's network namespace.
type Sandbox struct {
	Name string // netns name
	IP   net.IP
	veth string
	host int
}

// NewSandbox makes a network namespace with eth0 on the bridge, a pod IP,
// a default route through the node, and /etc/netns/<name>/resolv.conf
// (which `ip netns exec` shows the pod as /etc/resolv.conf).
func (n *Network) NewSandbox(resolvConf string) (*Sandbox, error) {
	// The address after the last one given, not the lowest free: a pod
	// that takes the address of one that just went gets nothing while the
	// node's neighbor cache still names the gone pod's MAC (a hall started
	// during an upgrade could not be probed nor get its DNS answers for
	// 30 s, and was restarted).
	n.mu.Lock()
	host := nextHost(n.used, n.last)
	if host == 0 {
		n.mu.Unlock()
		return nil, errors.New("no free pod IP in " + n.Pods.String())
	}
	s := &Sandbox{Name: fmt.Sprintf("%s%d", n.prefix(), host), IP: net.IPv4(10, 244, byte(n.Slot), byte(host)).To4(),
		veth: fmt.Sprintf("gh%dv%d", n.Slot, host), host: host}
	n.used[host] = s.Name
	n.last = host
	n.mu.Unlock()
	ok := false
	defer func() {
		if !ok {
			n.DeleteSandbox(s)
		}
	}()
	_ = ipCmd("netns", "del", s.Name) // a leftover of a crashed run
	for _, args := range [][]string{
		{"netns", "add", s.Name},
		{"link", "add", s.veth, "type", "veth", "peer", "name", "eth0", "netns", s.Name},
		{"link", "set", s.veth, "master", n.bridge()},
		{"link", "set", s.veth, "up"},
		{"-n", s.Name, "addr", "add", s.IP.String() + "/24", "dev", "eth0"},
		{"-n", s.Name, "link", "set", "eth0", "up"},
		{"-n", s.Name, "link", "set", "lo", "up"},
		{"-n", s.Name, "route", "add", "default", "via", n.NodeIP.String()},
	} {
		if err := ipCmd(args...); err != nil {
			return nil, err
		}
	}
	// Whatever the node still remembers of an earlier holder of the address.
	_ = ipCmd("neigh", "flush", "to", s.IP.String())
	dir := filepath.Join("/etc/netns", s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(resolvConf), 0o644); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// nextHost is the first free host byte (2..254) after last, going round;
// 0 when none is free.
func nextHost(used map[int]string, last int) int {
	last = max(last, 1)
	for i := 1; i <= 253; i++ {
		h := 2 + (last-2+i+253)%253
		if _, ok := used[h]; !ok {
			return h
		}
	}
	return 0
}

// DeleteSandbox removes a pod's namespace (its processes must be gone).
func (n *Network) DeleteSandbox(s *Sandbox) {
	_ = ipCmd("link", "del", s.veth)
	_ = ipCmd("netns", "del", s.Name)
	os.RemoveAll(filepath.Join("/etc/netns", s.Name))
	n.mu.Lock()
	delete(n.used, s.host)
	n.mu.Unlock()
}

// Listen opens a TCP listener inside the sandbox's network namespace (as a
// sidecar container of the pod would): the socket stays in that namespace.
func (s *Sandbox) Listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(s.Name, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// inNetns runs f on an OS thread switched into the named network namespace.
// Sockets f creates stay there; the thread is switched back (or, if that
// fails, never reused: it exits with the goroutine).
func inNetns(name string, f func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return // the thread exits with this goroutine
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func ipCmd(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
