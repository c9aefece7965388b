package tui

// panicKey, when set, is a key that panics in Update: only a binary built
// with -tags mqctl_testhooks sets it (from $MQCTL_TEST_TOP_PANIC_KEY), for
// the test that the terminal is restored after a panic.
var panicKey string
