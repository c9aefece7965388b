package broker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mqctl/mqctl/internal/mqerr"
)

// Driver opens connections for the URL schemes it registered.
type Driver interface {
	Open(ctx context.Context, t Target) (Conn, error)
}

var (
	mu      sync.RWMutex
	drivers = map[string]Driver{}
	// byName holds each Capable driver's capabilities under its family
	// name, so that a lookup per message (CapabilitiesByName) is a map read.
	byName = map[string]Capabilities{}
	// named holds each Capable driver under its family name (DriverAs).
	named = map[string]Driver{}
)

// Register makes d handle URLs with the given schemes. Drivers call it from
// init; registering a scheme twice is a programming error.
func Register(d Driver, schemes ...string) {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range schemes {
		if _, dup := drivers[s]; dup {
			panic("broker: scheme registered twice: " + s)
		}
		drivers[s] = d
	}
	if c, ok := d.(Capable); ok {
		byName[c.Capabilities().Name] = c.Capabilities()
		named[c.Capabilities().Name] = d
	}
}

// DriverAs returns role R of the registered driver whose family name is
// name ("kafka"), for code that has the name but no connection (a bench
// worker's plan, the parity lines of bench --compare). A driver without
// the role gives an mqerr.Unsupported error, as As does; a name no driver
// registered, "WHAT does not know broker NAME".
func DriverAs[R any](name, what string) (R, error) {
	mu.RLock()
	d, ok := named[name]
	mu.RUnlock()
	var zero R
	if !ok {
		return zero, fmt.Errorf("%s does not know broker %q", what, name)
	}
	r, ok := d.(R)
	if !ok {
		return zero, mqerr.Wrap(mqerr.Unsupported, fmt.Errorf("%s is not supported on %s", what, name))
	}
	return r, nil
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(drivers))
	for s := range drivers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open connects to t with the driver its URL scheme selects, bounded by
// t's timeout. Errors are typed (mqerr) and never contain the password.
func Open(ctx context.Context, t Target) (Conn, error) {
	if t.URL == "" {
		return nil, mqerr.Usagef("no broker URL: pass --url, set MQCTL_URL, or select a context with -c (see 'mqctl context ls')")
	}
	d, err := driverFor(t.URL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.EffectiveTimeout())
	defer cancel()
	conn, err := d.Open(ctx, t)
	if err != nil {
		return nil, Scrub(err, t.Secrets()...)
	}
	return conn, nil
}

// CheckURL reports whether raw parses and a driver is registered for its
// scheme, without connecting: what `context add` checks before saving.
func CheckURL(raw string) error {
	_, err := driverFor(raw)
	return err
}

// driverFor parses raw and picks the driver of its scheme.
func driverFor(raw string) (Driver, error) {
	ep, err := ParseEndpoint(raw)
	if err != nil {
		return nil, err
	}
	mu.RLock()
	d, ok := drivers[ep.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, mqerr.Usagef("unknown URL scheme %q in %s: want one of %s", ep.Scheme, RedactURL(raw), strings.Join(Schemes(), ", "))
	}
	return d, nil
}
