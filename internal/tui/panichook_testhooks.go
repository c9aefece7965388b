//go:build mqctl_testhooks

package tui

import "os"

func init() { panicKey = os.Getenv("MQCTL_TEST_TOP_PANIC_KEY") }
