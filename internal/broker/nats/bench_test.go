package nats

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// A create refused with 10049 (the server's streams directory removed
// under it after the previous stream's delete) is tried again; other
// refusals are not.
func TestStoreRace(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("create: %w", &jetstream.APIError{Code: 500, ErrorCode: 10049, Description: "error creating store for stream"}), true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10058, Description: "stream name already in use"}, false},
		{errors.New("timeout"), false},
		{nil, false},
	} {
		if got := storeRace(tc.err); got != tc.want {
			t.Errorf("storeRace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
