package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database to w from one read transaction, so writers
// go on meanwhile. begin, if not nil, is told the copy's size before the first byte.
func (s *Bolt) Backup(begin func(size int64), w io.Writer) (n int64, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		if begin != nil {
			begin(tx.Size())
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy of the database to path, mode 0600: into a temporary
// file beside it, synced, then renamed over path, so path is never a half-written copy.
func (s *Bolt) BackupFile(path string) error {
	return s.BackupFileProgress(context.Background(), path, true, nil)
}

// BackupFileProgress is BackupFile that stops (and removes its temporary file) once ctx ends,
// tells progress (if not nil) how many bytes of the total it wrote, and, unless overwrite,
// fails with an error matching os.ErrExist rather than replace an existing path.
func (s *Bolt) BackupFileProgress(ctx context.Context, path string, overwrite bool, progress func(done, total int64)) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	pw := &progressWriter{ctx: ctx, w: f, progress: progress}
	if _, err := s.Backup(func(size int64) { pw.total = size }, pw); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if overwrite {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else {
		// A link fails if path exists, where a rename would replace it: no window in which
		// a file created meanwhile is overwritten.
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return err
			}
			// A file system without hard links (FAT): check, then rename.
			if _, serr := os.Lstat(path); serr == nil {
				return &os.PathError{Op: "backup", Path: path, Err: os.ErrExist}
			}
			if err := os.Rename(tmp, path); err != nil {
				return err
			}
		} else {
			os.Remove(tmp)
		}
	}
	ok = true
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil && !errors.Is(err, os.ErrInvalid) {
			return err
		}
	}
	return nil
}

// progressWriter passes writes on, reports their running total and fails once ctx ends.
type progressWriter struct {
	ctx         context.Context
	w           io.Writer
	done, total int64
	progress    func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.progress != nil {
		p.progress(p.done, p.total)
	}
	return n, err
}
