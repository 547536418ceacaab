package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the machine's and this process's CPU time at one moment, so
// a run can say whether it was bound by the processors or by waiting.
type cpuSample struct {
	at          time.Time
	busy, all   uint64 // machine jiffies from /proc/stat
	self        time.Duration
	postgres    uint64 // jiffies of every process named postgres
	haveMachine bool
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		s.all += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	s.haveMachine = true
	s.postgres = postgresJiffies()
	return s
}

// postgresJiffies sums the user and system time of the server's processes.
func postgresJiffies() uint64 {
	dirs, _ := os.ReadDir("/proc")
	var total uint64
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime is field 14, stime 15.
		open, close := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || close < open || string(b[open+1:close]) != "postgres" {
			continue
		}
		f := strings.Fields(string(b[close+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		total += u + st
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc's times (100 on Linux).
const clockTicks = 100

// cpuUse describes the CPU used between two samples: the machine's busy
// share of all its CPUs, the server's long-lived processes (the pool's
// connections) and this process's (service and load generator). pgbench's
// connections exit with it, taking their time along, so the server's share
// is left out of its runs.
func cpuUse(a, b cpuSample, server bool) string {
	wall := b.at.Sub(a.at).Seconds()
	self := (b.self - a.self).Seconds() / wall
	if !a.haveMachine || b.all == a.all {
		return fmt.Sprintf("this process %.2f CPUs", self)
	}
	busy := float64(b.busy-a.busy) / float64(b.all-a.all) * float64(numCPU())
	if !server {
		return fmt.Sprintf("machine %.2f of %d CPUs busy", busy, numCPU())
	}
	pg := max(float64(b.postgres)-float64(a.postgres), 0) / clockTicks / wall
	return fmt.Sprintf("machine %.2f of %d CPUs busy: postgres %.2f, this process %.2f", busy, numCPU(), pg, self)
}
