package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mqctl/mqctl/internal/mqerr"
)

func TestReasonOf(t *testing.T) {
	base := mqerr.New(mqerr.NotFound, "topic %q does not exist", "x")
	named := WithReason("UNKNOWN_TOPIC_OR_PARTITION", base)
	wrapped := fmt.Errorf("publish: %w", named)
	if ReasonOf(wrapped) != "UNKNOWN_TOPIC_OR_PARTITION" || wrapped.Error() != `publish: topic "x" does not exist` {
		t.Errorf("reason %q, text %q", ReasonOf(wrapped), wrapped)
	}
	if !mqerr.Is(wrapped, mqerr.NotFound) || !errors.Is(wrapped, base) {
		t.Error("WithReason lost the kind or the chain")
	}
	if WithReason("x", nil) != nil || ReasonOf(nil) != "" {
		t.Error("nil")
	}
	if ReasonOf(fmt.Errorf("send: %w", context.Canceled)) != "interrupted" {
		t.Error("interrupt")
	}
	if got := ReasonOf(errors.New("first line\nsecond")); got != "first line" {
		t.Errorf("%q", got)
	}
	long := ReasonOf(errors.New(strings.Repeat("é", 100)))
	if !utf8.ValidString(long) || len(long) > maxReason+3 || !strings.HasSuffix(long, "...") {
		t.Errorf("cut reason %q", long)
	}
}
