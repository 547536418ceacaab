package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's times (100 on Linux).
const clockTicks = 100

// cpuSample is where every party's CPU time stood at one moment, so a run
// can say who used the processors: the machine as a whole, the service
// (its own process), this process (the load generator, or the store driven
// directly), PostgreSQL's backends and the whole server. What the machine
// spent beyond those is other work on it (builds, tests), which the figures
// of a shared machine must show.
type cpuSample struct {
	at        time.Time
	load      string // /proc/loadavg's 1, 5 and 15 minute figures
	busy, all uint64 // machine jiffies from /proc/stat
	self      time.Duration
	service   uint64 // jiffies of the service's process
	svcSys    uint64 // of which in the kernel
	pg        serverCPU
	machine   bool // /proc/stat was readable
}

// serverCPU is PostgreSQL's CPU time in jiffies: its backends' and the
// whole server's (background processes included). A backend's time
// survives its exit: the postmaster reaps it, and the kernel adds it to
// the postmaster's children's time. The bench's cluster runs without
// autovacuum, so everything reaped during a run is a backend.
type serverCPU struct {
	backends, all uint64
	backendsSys   uint64 // the backends' time in the kernel
	live          int    // backends alive
	exiting       int    // backends exited, not reaped yet
	ok            bool
}

// sampler reads CPU times; postmaster and service are process ids (0 when
// unknown or not on this machine).
type sampler struct {
	postmaster, service int
}

func (s sampler) sample() cpuSample {
	c := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			c.load = strings.Join(f[:3], " ")
		}
	}
	if s.service > 0 {
		if st, ok := readStat(s.service); ok {
			c.service, c.svcSys = st.utime+st.stime, st.stime
		}
	}
	c.pg = s.server()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return c
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		c.all += n
		if i != 3 && i != 4 { // idle, iowait
			c.busy += n
		}
	}
	c.machine = true
	return c
}

// server sums the CPU time of the postmaster, of everything it reaped and
// of its live children, telling backends from the background processes by
// their titles. A backend on its way out has lost its title (and then
// becomes a zombie until reaped): it is counted as a backend, not live.
func (s sampler) server() serverCPU {
	if s.postmaster <= 0 {
		return serverCPU{}
	}
	pm, ok := readStat(s.postmaster)
	if !ok {
		return serverCPU{}
	}
	sc := serverCPU{ok: true, backends: pm.cutime + pm.cstime, backendsSys: pm.cstime, all: pm.utime + pm.stime + pm.cutime + pm.cstime}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.ppid != s.postmaster {
			continue
		}
		t := st.utime + st.stime
		sc.all += t
		title := processTitle(pid)
		switch {
		case st.state == 'Z' || title == "":
			sc.backends += t
			sc.backendsSys += st.stime
			sc.exiting++
		case !auxiliary(title):
			sc.backends += t
			sc.backendsSys += st.stime
			sc.live++
		}
	}
	return sc
}

func processTitle(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimRight(string(b), "\x00 ")
}

// auxiliary tells PostgreSQL's background processes ("postgres:
// walwriter") from backends ("postgres: user db 127.0.0.1(5432) idle").
func auxiliary(title string) bool {
	for _, p := range []string{"checkpointer", "background writer", "walwriter", "autovacuum", "logical replication",
		"archiver", "stats collector", "walsender", "walreceiver", "startup"} {
		if strings.HasPrefix(title, "postgres: "+p) {
			return true
		}
	}
	return false
}

type procStat struct {
	state                        byte
	ppid                         int
	utime, stime, cutime, cstime uint64
}

// readStat reads a process's parent and CPU times from /proc/<pid>/stat.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid ...: after the command, field 4 is the parent
	// and fields 14-17 are utime, stime, cutime, cstime.
	end := strings.LastIndexByte(string(b), ')')
	if end < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}
	num := func(i int) uint64 { n, _ := strconv.ParseUint(f[i], 10, 64); return n }
	ppid, _ := strconv.Atoi(f[1])
	return procStat{state: f[0][0], ppid: ppid, utime: num(11), stime: num(12), cutime: num(13), cstime: num(14)}, true
}

// cpuUse is what the parties used between two samples, in CPUs (seconds
// of CPU per second of the run).
type cpuUse struct {
	wall                 time.Duration
	machine              float64 // busy CPUs
	self, service        float64
	serviceSys           float64 // the service's time in the kernel
	backends, server     float64
	backendsSys          float64
	other                float64 // machine minus every party known
	pgbench              float64
	haveMachine, haveSvc bool
	havePG               bool
	load                 string
}

func used(a, b cpuSample, pgbench time.Duration) cpuUse {
	u := cpuUse{wall: b.at.Sub(a.at), load: b.load}
	secs := u.wall.Seconds()
	jiffies := func(x, y uint64) float64 {
		if y < x {
			return 0
		}
		return float64(y-x) / clockTicks / secs
	}
	u.self = (b.self - a.self).Seconds() / secs
	u.pgbench = pgbench.Seconds() / secs
	if b.service > 0 {
		u.service, u.serviceSys, u.haveSvc = jiffies(a.service, b.service), jiffies(a.svcSys, b.svcSys), true
	}
	if a.pg.ok && b.pg.ok {
		u.backends, u.server, u.havePG = jiffies(a.pg.backends, b.pg.backends), jiffies(a.pg.all, b.pg.all), true
		u.backendsSys = jiffies(a.pg.backendsSys, b.pg.backendsSys)
	}
	if a.machine && b.machine && b.all > a.all {
		u.haveMachine = true
		u.machine = float64(b.busy-a.busy) / float64(b.all-a.all) * float64(numCPU())
		u.other = max(u.machine-u.self-u.service-u.server-u.pgbench, 0)
	}
	return u
}

// describe says who used the CPUs, naming the load generator for what this
// process did (it drives the service, or the store directly).
func (u cpuUse) describe(selfName string) string {
	var parts []string
	if u.havePG {
		parts = append(parts, fmt.Sprintf("postgres %.2f (backends %.2f, of which kernel %.2f)", u.server, u.backends, u.backendsSys))
	}
	if u.haveSvc && u.service > 0 {
		parts = append(parts, fmt.Sprintf("service %.2f (kernel %.2f)", u.service, u.serviceSys))
	}
	if u.pgbench > 0 {
		parts = append(parts, fmt.Sprintf("pgbench %.2f", u.pgbench))
	}
	if u.self >= 0.005 {
		parts = append(parts, fmt.Sprintf("%s %.2f", selfName, u.self))
	}
	s := strings.Join(parts, ", ")
	if u.haveMachine {
		s = fmt.Sprintf("%.2f of %d CPUs busy: %s, other work %.2f", u.machine, numCPU(), s, u.other)
	}
	return s + "; load " + u.load
}

// perOp is CPU time per operation in microseconds, of a party using cpus
// over the run.
func (u cpuUse) perOp(cpus float64, ops int) float64 {
	if ops == 0 {
		return 0
	}
	return cpus * u.wall.Seconds() / float64(ops) * 1e6
}
