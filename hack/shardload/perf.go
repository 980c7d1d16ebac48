package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// perfCounters counts a process's system calls and context switches with
// `perf stat` over a window: kernel counts, unaffected by how busy the
// machine is (this VM has no hardware counters, so no instruction counts).
type perfCounters struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func startPerf(pid int, window time.Duration) *perfCounters {
	p := &perfCounters{}
	p.cmd = exec.Command("perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
		"-p", strconv.Itoa(pid), "--", "sleep", strconv.FormatFloat(window.Seconds(), 'f', 3, 64))
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		p.out.WriteString(err.Error())
	}
	return p
}

// wait returns the counts once the window is over.
func (p *perfCounters) wait() (syscalls, switches int64, err error) {
	if p.cmd == nil {
		return 0, 0, fmt.Errorf("perf did not start: %s", p.out.String())
	}
	if err := p.cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("perf stat: %v: %s", err, strings.TrimSpace(p.out.String()))
	}
	for _, line := range strings.Split(p.out.String(), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch f[2] {
		case "raw_syscalls:sys_enter":
			syscalls = n
		case "context-switches":
			switches = n
		}
	}
	return syscalls, switches, nil
}
