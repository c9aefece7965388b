package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQOptions configure StartRabbitMQ.
type RabbitMQOptions struct {
	// AMQPPort and APIPort (management HTTP) to listen on; 0 picks a free one.
	AMQPPort, APIPort int
	// DataDir keeps the node's state across restarts; empty means a
	// temporary directory removed on Stop.
	DataDir string
	// NodeName is the Erlang node name. The default is unique per process
	// and instance, or, with a DataDir, derived from it: the node name is
	// part of the stored state, so it must not change between runs.
	NodeName string
	// Log, when set, also receives the node's console output, and the last
	// lines of its log when it fails to start. With Log set, a temporary
	// data directory is removed after a failed start too; without it, it
	// stays so the log the error names can be read.
	Log io.Writer
	// Progress, when set, receives a line when the node is launched and
	// then every few seconds until it is ready: what the start waits for
	// and for how long, so a slow boot is not a silent one.
	Progress io.Writer
	// Config is appended to the node's rabbitmq.conf, one setting a line
	// (e.g. "consumer_timeout = 5000"); AdvancedConfig, when not empty, is
	// its advanced.config, for settings rabbitmq.conf cannot express (e.g.
	// [{rabbit, [{channel_tick_interval, 1000}]}].). Tests use them to start
	// a node of their own with settings that would disturb a shared one.
	Config         []string
	AdvancedConfig string
}

// RabbitMQ is a rabbitmq-server running as an isolated child process: its
// own node name, ports, data and log directories and Erlang cookie, so it
// runs beside any other node on the machine.
type RabbitMQ struct {
	// AMQPURL is amqp://guest:guest@127.0.0.1:PORT/.
	AMQPURL string
	// APIURL is the management API, http://127.0.0.1:PORT.
	APIURL   string
	NodeName string
	// LogFile is the node's main log, the place to look when it misbehaves.
	LogFile string

	amqpPort, apiPort, distPort int
	dir                         string
	temp                        bool
	scripts                     string
	// uid and gid the node runs as; -1 keeps ours.
	uid, gid int
	username string
	log      io.Writer
	progress io.Writer
	config   []string
	advanced string
	proc     *rabbitProc
}

type rabbitProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

const (
	rabbitStartTimeout = 60 * time.Second
	rabbitStopGrace    = 20 * time.Second
	// rabbitProgressEvery is how often a start says it is still waiting.
	rabbitProgressEvery = 2 * time.Second
	// rabbitLogTail is how many lines of a failed node's log are shown.
	rabbitLogTail = 15
)

var rabbitSeq atomic.Int64

// RabbitMQAvailable reports whether rabbitmq-server is installed.
func RabbitMQAvailable() bool { return rabbitScriptsDir() != "" }

// rabbitScriptsDir finds the directory holding rabbitmq-server and
// rabbitmqctl. On Debian, /usr/sbin/rabbitmq-server is a wrapper that runs
// the real script through `su rabbitmq`, which resets HOME (our Erlang
// cookie) and starts a new session (out of our process group), so we run
// the real scripts behind it and switch user ourselves.
func rabbitScriptsDir() string {
	if isExecutable("/usr/lib/rabbitmq/bin/rabbitmq-server") {
		return "/usr/lib/rabbitmq/bin"
	}
	if p, err := exec.LookPath("rabbitmq-server"); err == nil {
		return filepath.Dir(p)
	}
	if isExecutable("/usr/sbin/rabbitmq-server") {
		return "/usr/sbin"
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// StartRabbitMQ starts rabbitmq-server with the management plugin, all
// listeners on 127.0.0.1, and waits until AMQP accepts guest/guest and the
// management API answers. ctx bounds the wait.
func StartRabbitMQ(ctx context.Context, o RabbitMQOptions) (*RabbitMQ, error) {
	scripts := rabbitScriptsDir()
	if scripts == "" {
		return nil, errors.New("start rabbitmq: rabbitmq-server is not installed (apt-get install rabbitmq-server)")
	}
	for _, l := range o.Config {
		if strings.ContainsAny(l, "\r\n") {
			return nil, fmt.Errorf("start rabbitmq: config setting %q is not one line", l)
		}
	}
	r := &RabbitMQ{scripts: scripts, log: o.Log, progress: o.Progress, uid: -1, gid: -1,
		config: o.Config, advanced: o.AdvancedConfig}
	if err := r.resolveUser(); err != nil {
		return nil, err
	}
	if err := r.resolveDir(o); err != nil {
		return nil, err
	}
	if err := r.resolvePorts(o); err != nil {
		r.removeTemp()
		return nil, err
	}
	if err := r.prepare(ctx); err != nil {
		r.removeTemp()
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		return nil, r.failedStart(ctx, err)
	}
	return r, nil
}

// failedStart decides what happens to the data directory of a node that
// did not start, and completes the error. A directory the user chose
// stays. A temporary one goes when the start was interrupted, or when Log
// can show the end of the node's log first; otherwise it stays and the
// error names the log in it.
func (r *RabbitMQ) failedStart(ctx context.Context, err error) error {
	switch {
	case r.temp && ctx.Err() != nil:
		r.removeTemp()
		return err
	case r.temp && r.log != nil:
		shown := r.showLogTail()
		r.removeTemp()
		if shown {
			return fmt.Errorf("%w; the end of its log is above", err)
		}
		return err
	default:
		return fmt.Errorf("%w; see %s and %s", err, r.LogFile, r.consoleLog())
	}
}

// showLogTail copies the last lines of the node's log to Log, and says
// whether there were any.
func (r *RabbitMQ) showLogTail() bool {
	b, err := os.ReadFile(r.LogFile)
	if err != nil || len(b) == 0 {
		fmt.Fprintf(r.log, "sandbox: rabbitmq node %s left no log\n", r.NodeName)
		return false
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > rabbitLogTail {
		lines = lines[len(lines)-rabbitLogTail:]
	}
	fmt.Fprintf(r.log, "sandbox: the last %d lines of rabbitmq node %s's log:\n", len(lines), r.NodeName)
	for _, l := range lines {
		fmt.Fprintf(r.log, "sandbox:   %s\n", l)
	}
	return true
}

// resolveUser picks who runs the node. As root, that is the rabbitmq user
// when it exists, as Debian's own service does.
func (r *RabbitMQ) resolveUser() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("start rabbitmq: user rabbitmq has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	r.uid, r.gid, r.username = uid, gid, u.Username
	return nil
}

func (r *RabbitMQ) resolveDir(o RabbitMQOptions) error {
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "mqctl-rabbitmq-*")
		if err != nil {
			return fmt.Errorf("start rabbitmq: %w", err)
		}
		r.dir, r.temp = dir, true
	} else {
		dir, err := filepath.Abs(o.DataDir)
		if err != nil {
			return fmt.Errorf("start rabbitmq: data dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("start rabbitmq: data dir: %w", err)
		}
		r.dir = dir
	}
	r.NodeName = o.NodeName
	switch {
	case r.NodeName == "" && r.temp:
		r.NodeName = fmt.Sprintf("mqsb-%d-%d", os.Getpid(), rabbitSeq.Add(1))
	case r.NodeName == "":
		sum := sha256.Sum256([]byte(r.dir))
		r.NodeName = "mqsb-" + hex.EncodeToString(sum[:4])
	}
	if !strings.Contains(r.NodeName, "@") {
		r.NodeName += "@localhost"
	}
	r.LogFile = filepath.Join(r.dir, "log", r.NodeName+".log")
	return nil
}

func (r *RabbitMQ) resolvePorts(o RabbitMQOptions) error {
	// The distribution port must be set: RabbitMQ's default is the AMQP
	// port + 20000, which may be taken or out of range.
	ports, err := freePorts([]int{o.AMQPPort, o.APIPort, 0}, []string{"AMQP", "management API", "Erlang distribution"})
	if err != nil {
		return err
	}
	r.amqpPort, r.apiPort, r.distPort = ports[0], ports[1], ports[2]
	r.AMQPURL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", r.amqpPort)
	r.APIURL = fmt.Sprintf("http://127.0.0.1:%d", r.apiPort)
	return nil
}

// freePorts checks that each port is free, or picks a free one for a 0.
// All are held open until the last is picked, so no two picks collide; a
// busy port is reported here rather than as a node that dies at boot.
// A pick comes from below the kernel's ephemeral range: the node binds
// its ports seconds after they are released here, and in that time any
// outgoing connection on the machine may be given a port from that range
// (a loaded test run lost nodes so).
func freePorts(ports []int, what []string) ([]int, error) {
	out := make([]int, len(ports))
	for i, port := range ports {
		var l net.Listener
		var err error
		if port == 0 {
			l, err = ListenBelowEphemeral()
		} else {
			l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
		if err != nil && port == 0 {
			return nil, fmt.Errorf("start rabbitmq: no free %s port: %w", what[i], err)
		}
		if err != nil {
			return nil, fmt.Errorf("start rabbitmq: %s port %d is not free: %w", what[i], port, err)
		}
		defer l.Close()
		out[i] = l.Addr().(*net.TCPAddr).Port
	}
	return out, nil
}

// ListenBelowEphemeral listens on a random free loopback port between
// 10000 and the start of the ephemeral range, or on any port the kernel
// gives when none of 64 tries is free. A port picked to be bound later
// (closed, then handed to a broker) is safer there: the kernel gives
// outgoing connections ports of the ephemeral range only.
func ListenBelowEphemeral() (net.Listener, error) {
	low, high := 10000, ephemeralStart()
	for range 64 {
		if high <= low {
			break
		}
		port := low + mrand.IntN(high-low)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// ephemeralStart is the first port of Linux's ephemeral range (32768 when
// it cannot be read).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// prepare writes the node's configuration and hands the data directory to
// the user the node runs as.
func (r *RabbitMQ) prepare(ctx context.Context) error {
	for _, d := range []string{"home", "mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(r.dir, d), 0o755); err != nil {
			return fmt.Errorf("start rabbitmq: %w", err)
		}
	}
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
loopback_users = none
collect_statistics_interval = 1000
`, r.amqpPort, r.apiPort)
	for _, l := range r.config {
		conf += l + "\n"
	}
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[rabbitmq_management].\n",
		// An empty env file keeps the host's /etc/rabbitmq/rabbitmq-env.conf
		// (node name, ports) out of our node.
		"rabbitmq-env.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("start rabbitmq: %w", err)
		}
	}
	// No advanced.config unless asked for: one left by an earlier run
	// with other options must not apply.
	advanced := filepath.Join(r.dir, "advanced.config")
	if r.advanced != "" {
		if err := os.WriteFile(advanced, []byte(r.advanced), 0o644); err != nil {
			return fmt.Errorf("start rabbitmq: %w", err)
		}
	} else if err := os.Remove(advanced); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start rabbitmq: %w", err)
	}
	if err := writeCookie(filepath.Join(r.dir, "home", ".erlang.cookie")); err != nil {
		return err
	}
	if r.uid < 0 {
		return nil
	}
	err := filepath.WalkDir(r.dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, r.uid, r.gid)
	})
	if err != nil {
		return fmt.Errorf("start rabbitmq: hand %s to user %s: %w", r.dir, r.username, err)
	}
	check := exec.CommandContext(ctx, "test", "-x", r.dir, "-a", "-w", r.dir)
	check.SysProcAttr = rabbitProcAttr(r.uid, r.gid)
	if check.Run() != nil {
		return fmt.Errorf("start rabbitmq: user %s cannot reach %s (a parent directory is not searchable by it); choose a data directory it can reach, e.g. under /tmp", r.username, r.dir)
	}
	return nil
}

// writeCookie gives the node its own Erlang cookie, so that no other node
// or CLI on the machine can talk to it by accident. An existing cookie is
// kept: rabbitmqctl of an earlier run must still match.
func writeCookie(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("start rabbitmq: cookie: %w", err)
	}
	// Erlang refuses a cookie file that others can read.
	if err := os.WriteFile(path, []byte(strings.ToUpper(hex.EncodeToString(b))), 0o400); err != nil {
		return fmt.Errorf("start rabbitmq: cookie: %w", err)
	}
	return nil
}

// env is the environment of the node and of rabbitmqctl: ours without any
// RABBITMQ_ setting or HOME, plus the node's own.
func (r *RabbitMQ) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RABBITMQ_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	p := func(name string) string { return filepath.Join(r.dir, name) }
	return append(env,
		"HOME="+p("home"),
		"RABBITMQ_NODENAME="+r.NodeName,
		"RABBITMQ_DIST_PORT="+strconv.Itoa(r.distPort),
		"RABBITMQ_MNESIA_BASE="+p("mnesia"),
		"RABBITMQ_LOG_BASE="+p("log"),
		"RABBITMQ_CONFIG_FILE="+p("rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+p("advanced.config"),
		"RABBITMQ_CONF_ENV_FILE="+p("rabbitmq-env.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+p("enabled_plugins"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
}

func (r *RabbitMQ) consoleLog() string { return filepath.Join(r.dir, "log", "console.log") }

// start runs the node and waits until it serves AMQP and the management API.
func (r *RabbitMQ) start(ctx context.Context) error {
	console, err := os.OpenFile(r.consoleLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start rabbitmq: %w", err)
	}
	// The trailing flag is ignored by Erlang; it puts the node name on the
	// command line so `ps` and `pgrep -f` can tell our nodes apart.
	cmd := exec.Command(filepath.Join(r.scripts, "rabbitmq-server"), "-mqctl_sandbox", r.NodeName)
	cmd.Dir = r.dir
	cmd.Env = r.env()
	cmd.Stdout, cmd.Stderr = console, console
	if r.log != nil {
		w := io.MultiWriter(console, r.log)
		cmd.Stdout, cmd.Stderr = w, w
		// epmd, started by the node, could hold the pipe open forever.
		cmd.WaitDelay = time.Second
	}
	cmd.SysProcAttr = rabbitProcAttr(r.uid, r.gid)
	if err := cmd.Start(); err != nil {
		console.Close()
		return fmt.Errorf("start rabbitmq %s: %w", r.NodeName, err)
	}
	p := &rabbitProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		console.Close()
		close(p.exited)
	}()
	r.proc = p

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, rabbitStartTimeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	began := time.Now()
	var said time.Time
	for {
		probeErr := r.probe(ctx)
		if probeErr == nil {
			r.progressf("rabbitmq ready after %s", seconds(time.Since(began)))
			return nil
		}
		switch {
		case said.IsZero():
			r.progressf("waiting for rabbitmq node %s (AMQP on 127.0.0.1:%d, management API on 127.0.0.1:%d): %s, %s",
				r.NodeName, r.amqpPort, r.apiPort, seconds(time.Since(began)), waitReason(probeErr))
			said = time.Now()
		case time.Since(said) >= rabbitProgressEvery:
			r.progressf("waiting for rabbitmq: %s, %s", seconds(time.Since(began)), waitReason(probeErr))
			said = time.Now()
		}
		select {
		case <-p.exited:
			r.proc = nil
			if p.err != nil {
				return fmt.Errorf("start rabbitmq %s: the node exited (%v)", r.NodeName, p.err)
			}
			return fmt.Errorf("start rabbitmq %s: the node exited", r.NodeName)
		case <-ctx.Done():
			killErr := r.kill()
			if parent.Err() != nil {
				return errors.Join(fmt.Errorf("start rabbitmq %s: %w", r.NodeName, parent.Err()), killErr)
			}
			return errors.Join(fmt.Errorf("start rabbitmq %s: not ready in %s (%v)", r.NodeName, rabbitStartTimeout, probeErr), killErr)
		case <-tick.C:
		}
	}
}

func (r *RabbitMQ) progressf(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, "sandbox: "+format+"\n", args...)
	}
}

// seconds shows an elapsed time in whole seconds.
func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) }

// waitReason says briefly why a probe failed: a port not open yet is the
// normal state of a booting node.
func waitReason(err error) string {
	if errors.Is(err, syscall.ECONNREFUSED) {
		what, _, _ := strings.Cut(err.Error(), ":")
		return what + " not listening yet"
	}
	return err.Error()
}

// probe checks that guest can log in over AMQP and that the management
// API answers.
func (r *RabbitMQ) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := amqp.DialConfig(fmt.Sprintf("amqp://127.0.0.1:%d/", r.amqpPort), amqp.Config{
		SASL: []amqp.Authentication{&amqp.PlainAuth{Username: "guest", Password: "guest"}},
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				deadline, _ := ctx.Deadline()
				err = c.SetDeadline(deadline)
			}
			return c, err
		},
	})
	if err != nil {
		return fmt.Errorf("amqp: %w", err)
	}
	conn.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.APIURL+"/api/overview", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("management API: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("management API: %s", resp.Status)
	}
	return nil
}

// DataDir is the node's data directory (removed by Stop when temporary).
func (r *RabbitMQ) DataDir() string { return r.dir }

// Ctl runs rabbitmqctl against this node, as the user and with the cookie
// the node has, and returns its combined output.
func (r *RabbitMQ) Ctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.scripts, "rabbitmqctl"), append([]string{"-n", r.NodeName}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = r.env()
	cmd.SysProcAttr = rabbitProcAttr(r.uid, r.gid)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Stop stops the node with rabbitmqctl, kills it when it has not exited
// within 20 s or by ctx's deadline (an error) or when ctx is cancelled (on
// request, no error), and removes a temporary data directory.
func (r *RabbitMQ) Stop(ctx context.Context) error {
	err := r.stop(ctx)
	if r.proc == nil {
		r.removeTemp()
	}
	return err
}

// Restart stops the node and starts it again on the same ports, node name
// and data directory, as a broker restart looks to clients.
func (r *RabbitMQ) Restart(ctx context.Context) error {
	if err := r.stop(ctx); err != nil {
		return err
	}
	if _, err := freePorts([]int{r.amqpPort, r.apiPort, r.distPort}, []string{"AMQP", "management API", "Erlang distribution"}); err != nil {
		return err
	}
	if err := r.start(ctx); err != nil {
		return fmt.Errorf("%w; see %s and %s", err, r.LogFile, r.consoleLog())
	}
	return nil
}

func (r *RabbitMQ) stop(ctx context.Context) error {
	p := r.proc
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
	default:
		ctlCtx, cancel := context.WithTimeout(ctx, rabbitStopGrace)
		_, ctlErr := r.Ctl(ctlCtx, "stop")
		cancel()
		if ctlErr != nil {
			// The start script turns SIGTERM into a clean shutdown too.
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	grace := time.NewTimer(rabbitStopGrace)
	defer grace.Stop()
	select {
	case <-p.exited:
		r.proc = nil
		return nil
	case <-grace.C:
	case <-ctx.Done():
		// A cancelled ctx asks for the kill; a deadline is a stop too slow.
		if errors.Is(ctx.Err(), context.Canceled) {
			return r.kill()
		}
	}
	if err := r.kill(); err != nil {
		return err
	}
	err := fmt.Errorf("stop rabbitmq %s: did not stop in time and was killed", r.NodeName)
	if !r.temp {
		err = fmt.Errorf("%w; see %s", err, r.LogFile)
	}
	return err
}

// kill ends the node's whole process group and waits for it.
func (r *RabbitMQ) kill() error {
	p := r.proc
	if p == nil {
		return nil
	}
	if err := killProcessGroup(p.cmd.Process); err != nil {
		return fmt.Errorf("kill rabbitmq %s: %w", r.NodeName, err)
	}
	<-p.exited
	r.proc = nil
	return nil
}

func (r *RabbitMQ) removeTemp() {
	if r.temp {
		os.RemoveAll(r.dir)
	}
}
