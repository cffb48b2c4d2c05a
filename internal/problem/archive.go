package problem

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Limits bound what a package may unpack to. A package that passes them
// is refused with an error naming the file, before more is read: a zip or
// gzip bomb costs at most MaxBytes of memory.
type Limits struct {
	MaxBytes int64 // the unpacked files' sizes, summed
	MaxFiles int   // files, symbolic links included
}

// DefaultLimits are the service's unless configured.
var DefaultLimits = Limits{MaxBytes: 256 << 20, MaxFiles: 20000}

// Files are a package's files by slash-separated path relative to its
// root. A symbolic link of the package is resolved to the file it names,
// which must be in the package.
type Files map[string][]byte

// ErrInvalid is wrapped by every error that says a package is malformed:
// the submitter's fault, not the service's.
var ErrInvalid = errors.New("invalid problem package")

// invalid returns an ErrInvalid error with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Unpack reads a package from an archive: zip, tar or gzip-compressed
// tar, told apart by their first bytes. When every file is under one
// top-level folder (an archive of the package's folder), that folder is
// the package's root.
func Unpack(archive []byte, lim Limits) (Files, error) {
	u := unpacker{lim: lim, files: Files{}, links: map[string]string{}}
	var err error
	switch {
	case bytes.HasPrefix(archive, []byte("PK\x03\x04")) || bytes.HasPrefix(archive, []byte("PK\x05\x06")):
		err = u.zip(archive)
	case bytes.HasPrefix(archive, []byte{0x1f, 0x8b}):
		zr, zerr := gzip.NewReader(bytes.NewReader(archive))
		if zerr != nil {
			return nil, invalid("gzip: %v", zerr)
		}
		err = u.tar(zr)
	case len(archive) >= 262 && string(archive[257:262]) == "ustar":
		err = u.tar(bytes.NewReader(archive))
	default:
		return nil, invalid("the body is not a zip, tar or tar.gz archive")
	}
	if err != nil {
		return nil, err
	}
	if err := u.resolveLinks(); err != nil {
		return nil, err
	}
	return stripTop(u.files), nil
}

// ReadDir reads a package from a folder on disk, with the same limits
// and the same handling of symbolic links as an archive.
func ReadDir(dir string, lim Limits) (Files, error) {
	u := unpacker{lim: lim, files: Files{}, links: map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." && skipDir(filepath.ToSlash(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return u.addLink(name, target)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return u.add(name, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := u.resolveLinks(); err != nil {
		return nil, err
	}
	return u.files, nil
}

// skipDir reports folders of a package that judging never reads and that
// are often large: statements, attachments, visualisers.
func skipDir(rel string) bool {
	switch rel {
	case ".git", "problem_statement", "statement", "attachments", "solution", "input_visualizer", "output_visualizer":
		return true
	}
	return false
}

type unpacker struct {
	lim   Limits
	files Files
	links map[string]string // link path -> target path, both cleaned
	total int64
}

// clean checks an archive's member name: relative, and inside the
// archive once cleaned.
func clean(name string) (string, error) {
	n := strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "./")
	if n == "" || strings.HasPrefix(n, "/") || strings.IndexByte(n, 0) >= 0 {
		return "", invalid("%q: an absolute or empty path", name)
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", invalid("%q: a path that leaves the archive", name)
	}
	return c, nil
}

func (u *unpacker) count() error {
	if len(u.files)+len(u.links) >= u.lim.MaxFiles {
		return invalid("more than %d files", u.lim.MaxFiles)
	}
	return nil
}

// add reads one file, counting its bytes against the limit as they come:
// a member's declared size is not trusted.
func (u *unpacker) add(name string, r io.Reader) error {
	if err := u.count(); err != nil {
		return err
	}
	if _, dup := u.files[name]; dup {
		return invalid("%s: in the archive twice", name)
	}
	room := u.lim.MaxBytes - u.total
	b, err := io.ReadAll(io.LimitReader(r, room+1))
	if err != nil {
		return invalid("%s: %v", name, err)
	}
	if int64(len(b)) > room {
		return invalid("%s: the package unpacks to more than %d bytes", name, u.lim.MaxBytes)
	}
	u.total += int64(len(b))
	u.files[name] = b
	return nil
}

// addLink records a symbolic link; its target is resolved once every
// file is read.
func (u *unpacker) addLink(name, target string) error {
	if err := u.count(); err != nil {
		return err
	}
	if strings.HasPrefix(target, "/") {
		return invalid("%s: a link to an absolute path (%s)", name, target)
	}
	t := path.Join(path.Dir(name), target)
	if t == ".." || strings.HasPrefix(t, "../") {
		return invalid("%s: a link that leaves the archive (%s)", name, target)
	}
	u.links[name] = t
	return nil
}

// resolveLinks turns each link into a copy of the file it names, through
// chains of links; a link to a folder, to nothing or in a cycle is an
// error.
func (u *unpacker) resolveLinks() error {
	for name := range u.links {
		t := u.links[name]
		for hops := 0; ; hops++ {
			if hops > 40 {
				return invalid("%s: a cycle of links", name)
			}
			next, isLink := u.links[t]
			if !isLink {
				break
			}
			t = next
		}
		b, ok := u.files[t]
		if !ok {
			return invalid("%s: a link to %s, which is not a file of the package", name, t)
		}
		u.total += int64(len(b))
		if u.total > u.lim.MaxBytes {
			return invalid("%s: the package unpacks to more than %d bytes", name, u.lim.MaxBytes)
		}
		u.files[name] = b
	}
	return nil
}

func (u *unpacker) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return invalid("tar: %v", err)
		}
		name, err := clean(h.Name)
		if err != nil {
			return err
		}
		if skipped(name) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			if err := u.add(name, tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := u.addLink(name, h.Linkname); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := clean(h.Linkname)
			if err != nil {
				return err
			}
			if err := u.count(); err != nil {
				return err
			}
			u.links[name] = target // a hard link names its target from the archive's root
		case tar.TypeDir, tar.TypeXGlobalHeader:
		default:
			return invalid("%s: not a file, folder or link (tar type %q)", name, h.Typeflag)
		}
	}
}

func (u *unpacker) zip(archive []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		return invalid("zip: %v", err)
	}
	for _, f := range zr.File {
		name, err := clean(f.Name)
		if err != nil {
			return err
		}
		if skipped(name) {
			continue
		}
		mode := f.Mode()
		if mode.IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return invalid("%s: %v", name, err)
		}
		if mode&fs.ModeSymlink != 0 {
			target, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return invalid("%s: %v", name, err)
			}
			if err := u.addLink(name, string(target)); err != nil {
				return err
			}
			continue
		}
		if !mode.IsRegular() {
			rc.Close()
			return invalid("%s: not a file, folder or link", name)
		}
		err = u.add(name, rc)
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = invalid("%s: %v", name, cerr) // a bad checksum
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// skipped reports a member under a folder that skipDir skips, at the
// root or under one top-level folder.
func skipped(name string) bool {
	parts := strings.Split(name, "/")
	for i := 0; i < len(parts)-1 && i < 2; i++ {
		if skipDir(parts[i]) {
			return true
		}
	}
	return false
}

// stripTop removes a top-level folder that holds every file.
func stripTop(files Files) Files {
	top := ""
	for name := range files {
		first, _, ok := strings.Cut(name, "/")
		if !ok || (top != "" && first != top) {
			return files
		}
		top = first
	}
	if top == "" {
		return files
	}
	out := make(Files, len(files))
	for name, b := range files {
		out[strings.TrimPrefix(name, top+"/")] = b
	}
	return out
}
