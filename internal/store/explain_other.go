//go:build !linux

package store

import "fmt"

func explainOpen(path string, err error) error { return fmt.Errorf("error opening %s: %w", path, err) }
