package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestProxy(t *testing.T) {
	px := NewProxy(t, echoServer(t))
	var mu sync.Mutex
	var seen []string
	px.Tap(func(sent io.Reader) {
		s := bufio.NewScanner(sent)
		for s.Scan() {
			mu.Lock()
			seen = append(seen, s.Text())
			mu.Unlock()
		}
	})
	c, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) error {
		if _, err := io.WriteString(c, line+"\n"); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err == nil && got != line+"\n" {
			t.Fatalf("echo %q, want %q", got, line)
		}
		return err
	}
	if err := say("one"); err != nil {
		t.Fatal(err)
	}

	px.Pause()
	// Not a timing assertion: half a second in which the answer must not
	// come, then it comes once resumed.
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if err := say("two"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("answer while paused: %v, want none", err)
	}
	c.SetReadDeadline(time.Time{})
	px.Resume()
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Fatalf("after Resume: %q, %v; want two", got, err)
	}

	px.Down()
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after Down")
	}
	if c, err := net.Dial("tcp", px.Addr); err == nil {
		c.Close()
		t.Fatal("a connection was accepted while down")
	}
	px.Up()
	c2, err := net.Dial("tcp", px.Addr)
	if err != nil {
		t.Fatalf("after Up: %v", err)
	}
	defer c2.Close()
	c, r = c2, bufio.NewReader(c2)
	if err := say("three"); err != nil {
		t.Fatal(err)
	}
	if n := px.Conns(); n != 2 {
		t.Errorf("Conns = %d, want 2", n)
	}
	px.Close() // waits for the taps to return
	mu.Lock()
	defer mu.Unlock()
	// Each connection's tap reads in its own goroutine: their lines keep
	// their order within a connection, not across connections.
	got := slices.Clone(seen)
	slices.Sort(got)
	if strings.Join(got, " ") != "one three two" || slices.Index(seen, "one") > slices.Index(seen, "two") {
		t.Errorf("tapped %q, want one then two (first connection) and three (second)", strings.Join(seen, " "))
	}
}
