package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSharedReadsOncePerKey(t *testing.T) {
	var calls atomic.Int32
	read := func() (int, error) { return int(calls.Add(1)), nil }
	ctx := context.Background()

	// Outside shared reads every call reads.
	for want := 1; want <= 2; want++ {
		if v, _ := Shared(ctx, "k", read); v != want {
			t.Fatalf("outside ShareReads: got %d, want a read each call (%d)", v, want)
		}
	}
	if Sharing(ctx) {
		t.Fatal("Sharing without ShareReads")
	}

	calls.Store(0)
	sctx := ShareReads(ctx)
	if !Sharing(sctx) {
		t.Fatal("not Sharing within ShareReads")
	}
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = Shared(sctx, "k", read) })
	}
	wg.Wait()
	for i, v := range got {
		if v != 1 {
			t.Errorf("call %d got %d, want the first read's answer 1", i, v)
		}
	}
	// Another key reads again; so does another refresh.
	if v, _ := Shared(sctx, "other", read); v != 2 {
		t.Errorf("another key: got %d, want a read of its own (2)", v)
	}
	if v, _ := Shared(ShareReads(ctx), "k", read); v != 3 {
		t.Errorf("another refresh: got %d, want a read of its own (3)", v)
	}

	// An error is the answer too.
	boom := errors.New("boom")
	n := 0
	for range 2 {
		if _, err := Shared(sctx, "err", func() (int, error) { n++; return 0, boom }); err != boom {
			t.Errorf("got %v, want %v", err, boom)
		}
	}
	if n != 1 {
		t.Errorf("a failed read ran %d times in one refresh, want 1", n)
	}
}
