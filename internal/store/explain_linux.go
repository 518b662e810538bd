//go:build linux

package store

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// explainOpen adds what SQLite's "unable to open database file" leaves
// out when the cause is the file system: read-only, or the directory
// missing or not writable (SQLite needs to create its -wal and -shm files).
func explainOpen(path string, err error) error {
	dir := filepath.Dir(path)
	var st unix.Statfs_t
	switch {
	case unix.Statfs(dir, &st) == nil && st.Flags&unix.ST_RDONLY != 0:
		return fmt.Errorf("error opening %s: the file system is read-only: %w", path, err)
	case unix.Access(dir, unix.W_OK) != nil:
		return fmt.Errorf("error opening %s: its directory %s is missing or not writable (SQLite creates -wal and -shm files beside it): %w", path, dir, err)
	}
	return fmt.Errorf("error opening %s: %w", path, err)
}
