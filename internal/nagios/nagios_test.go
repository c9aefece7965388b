package nagios

import "testing"

func TestStatus(t *testing.T) {
	for _, c := range []struct {
		s    Status
		code int
		word string
	}{{OK, 0, "OK"}, {Warning, 1, "WARN"}, {Critical, 2, "CRIT"}, {Unknown, 3, "UNKNOWN"}} {
		if c.s.Code() != c.code || c.s.String() != c.word {
			t.Errorf("%d: got code %d word %q, want %d %q", c.s, c.s.Code(), c.s.String(), c.code, c.word)
		}
	}
}

func TestDegrade(t *testing.T) {
	s, line := Degrade(OK, "OK queue=a lag=0; 0 of 1 over thresholds")
	if s != Unknown || line != "UNKNOWN queue=a lag=0; 0 of 1 over thresholds" {
		t.Errorf("Degrade(OK) = %v %q", s, line)
	}
	s, line = Degrade(Critical, "CRIT queue=a lag=9")
	if s != Critical || line != "CRIT queue=a lag=9" {
		t.Errorf("Degrade(CRIT) = %v %q", s, line)
	}
}
