package testenv

import (
	"os"
	"strconv"
)

// CI reports whether the CI environment variable is set to a true value
// (strconv.ParseBool: "1", "t", "true", "TRUE", ...). Tests that would skip
// for a missing tool fail instead when CI is true: CI must not pass by
// skipping. Every test reads CI through this one helper.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}
