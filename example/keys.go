package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vedfolnir/sessions/store"
)

// loadOrCreateKey reads the key ring kept in path, or creates path (mode
// 0600) with a fresh key. The file appears complete or not at all (written
// aside, then linked into place, which fails if it exists), so two
// processes starting at once end up with the same key. created reports
// whether this call wrote it.
func loadOrCreateKey(path string) (kr *store.Keyring, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		kr, err := store.ParseKeyring(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, false, fmt.Errorf("key file %s: %w", path, err)
		}
		return kr, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("key file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".key-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("key file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	key := store.GenerateKey()
	_, werr := f.WriteString(key + "\n")
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return nil, false, fmt.Errorf("key file: %w", werr)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreateKey(path) // another process won: use its key
		}
		return nil, false, fmt.Errorf("key file: %w", err)
	}
	kr, err = store.ParseKeyring(key)
	return kr, true, err
}
