//go:build race

package storage_test

// raceEnabled: the race detector multiplies CPU cost several times, so the
// fault tests lower each browser's request rate (not their number).
const raceEnabled = true
