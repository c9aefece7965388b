// Package bench holds the peers `make bench` measures mqctl against: minimal
// programs that use the same client libraries directly, with the same
// settings, and nothing else. They are the floor mqctl's overhead is
// measured from; they are not part of mqctl.
package bench
