package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role every cluster started here is initialised with.
const Superuser = "postgres"

// Options tune a cluster started by NewCluster.
type Options struct {
	// ServerCertPEM and ServerKeyPEM, when both set, turn TLS on with this
	// certificate and key (PEM). The server still accepts plaintext
	// connections: clients choose with sslmode.
	ServerCertPEM, ServerKeyPEM []byte
	// Settings are extra postgresql.conf parameters (name → value).
	Settings map[string]string
}

// Cluster is a throwaway PostgreSQL cluster: its own data directory in a
// temporary directory, listening on a free loopback port. It is a Server,
// so tests create their databases in it with URL and MigratedURL.
type Cluster struct {
	Server

	dir, bin string
	port     int
	opts     Options
	cred     *syscall.Credential // who runs the server binaries; nil: this process's user
	proc     *exec.Cmd
	exited   chan struct{}
}

// ErrNoServerBinaries means no PostgreSQL server is installed where NewCluster looks.
var ErrNoServerBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or PATH")

// NewCluster initialises and starts a cluster. Close stops it and removes
// its directory. Running as root, the server binaries run as the "postgres"
// user, since initdb and postgres refuse to run as root.
func NewCluster(opts Options) (*Cluster, error) {
	bin, err := serverBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, opts: opts, cred: cred}
	if err := c.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if c.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.Server = Server{admin: c.urlFor("postgres")}
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Port is the loopback TCP port the cluster listens on (kept across restarts).
func (c *Cluster) Port() int { return c.port }

// LogFile is the path of the server's log, useful in failure messages.
func (c *Cluster) LogFile() string { return filepath.Join(c.dir, "server.log") }

func (c *Cluster) urlFor(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.port, db)
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) init() error {
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := c.command("initdb", "-D", c.dataDir(), "-U", Superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if len(c.opts.ServerCertPEM) > 0 && len(c.opts.ServerKeyPEM) > 0 {
		if err := c.writeOwned("data/server.crt", c.opts.ServerCertPEM); err != nil {
			return err
		}
		if err := c.writeOwned("data/server.key", c.opts.ServerKeyPEM); err != nil {
			return err
		}
	}
	return nil
}

// writeOwned writes a file under the cluster directory readable only by the
// server's user, as PostgreSQL demands of a private key.
func (c *Cluster) writeOwned(rel string, b []byte) error {
	p := filepath.Join(c.dir, rel)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(p, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func (c *Cluster) settings() []string {
	set := map[string]string{
		"port":                    strconv.Itoa(c.port),
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": c.dir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         "300",
		"logging_collector":       "off",
	}
	if len(c.opts.ServerCertPEM) > 0 && len(c.opts.ServerKeyPEM) > 0 {
		set["ssl"] = "on"
		set["ssl_cert_file"] = "server.crt"
		set["ssl_key_file"] = "server.key"
	}
	for k, v := range c.opts.Settings {
		set[k] = v
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", c.dataDir()}
	for _, k := range keys {
		args = append(args, "-c", k+"="+set[k])
	}
	return args
}

// Start starts the server (again, after Stop) on the same port and waits
// until it accepts connections.
func (c *Cluster) Start() error {
	if c.proc != nil {
		return errors.New("pgtest: cluster already running")
	}
	logf, err := os.OpenFile(c.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := c.command("postgres", c.settings()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	serverProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.proc, c.exited = cmd, exited

	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.admin)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			c.proc = nil
			return fmt.Errorf("postgres exited at start-up; log:\n%s", c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %v; log:\n%s", err, c.logTail())
		}
	}
}

// Stop shuts the server down the way an operator's restart does (fast
// shutdown: sessions are terminated, committed data kept) and waits for it
// to exit. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() error {
	if c.proc == nil {
		return nil
	}
	defer func() { c.proc = nil }()
	c.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		c.proc.Process.Kill()
		<-c.exited
		return errors.New("pgtest: postgres ignored fast shutdown; killed")
	}
}

// Kill stops the server the way a crash or power loss would (immediate
// shutdown: no checkpoint, crash recovery at the next Start) and waits for
// it to exit.
func (c *Cluster) Kill() error {
	if c.proc == nil {
		return nil
	}
	defer func() { c.proc = nil }()
	c.proc.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(30 * time.Second):
		c.proc.Process.Kill()
		<-c.exited
		return errors.New("pgtest: postgres ignored immediate shutdown; killed")
	}
}

// Close stops the server and removes the cluster's directory.
func (c *Cluster) Close() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(c.LogFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// serverBinDir finds the newest installed PostgreSQL server.
func serverBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoServerBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// serverCredential returns the "postgres" user's identity when this process
// runs as root, and nil otherwise.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the server must run as another user, but there is no \"postgres\" user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quoteIdent quotes a database name for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
