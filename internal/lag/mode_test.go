package lag

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestModeChecks(t *testing.T) {
	base := Mode{Samples: 5, Interval: 2 * time.Second}
	for _, c := range []struct {
		mode    func(Mode) Mode
		changed []string
		table   bool
		want    string
	}{
		{func(m Mode) Mode { m.Samples = 1; return m }, nil, true, "--samples 1: want 2 or more"},
		{func(m Mode) Mode { m.Interval = 0; return m }, nil, true, "--interval must be positive"},
		{func(m Mode) Mode { return m }, []string{"interval"}, true, "--interval applies to --watch and --check --rules"},
		{func(m Mode) Mode { m.Watch = true; return m }, []string{"interval", "samples"}, true, ""},
		{func(m Mode) Mode { m.Check = true; m.Thresholds.WarnLag = 1; return m }, []string{"samples"}, true, "--samples applies to --watch"},
		{func(m Mode) Mode { m.Check = true; m.Thresholds.Rules = true; return m }, []string{"samples", "rules"}, true, ""},
		{func(m Mode) Mode { return m }, []string{"crit-time"}, true, "--crit-time applies to --check"},
		{func(m Mode) Mode { m.Check = true; m.Watch = true; m.Thresholds.WarnLag = 1; return m }, nil, true, "--check and --watch exclude each other"},
		{func(m Mode) Mode { m.Check = true; m.Thresholds.WarnLag = 1; return m }, nil, false, "-o json does not apply"},
		{func(m Mode) Mode { m.Thresholds.WarnLag = 1; return m }, nil, false, ""},
	} {
		m := c.mode(base)
		changed := func(n string) bool { return slices.Contains(c.changed, n) }
		err := m.CheckFlags(changed)
		if err == nil {
			err = m.CheckOutput(c.table, "json")
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v %v: %v", m, c.changed, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v %v: %v, want %q", m, c.changed, err, c.want)
		}
	}
}
