package buildcontext

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ModTime is the modification time of every file in a build context, so that
// the same bytes always give the same layer.
var ModTime = time.Unix(0, 0).UTC()

// DockerfileName is the Dockerfile's name inside the build context.
const DockerfileName = "Dockerfile"

// Make returns the build context for d: a tar archive holding the
// Dockerfile and every file d.Sources names, nothing else. A source is read
// from made when the build produced it (the compiled binary: context path
// to path on disk), otherwise from the repository at root. Files are owned
// by root, dated ModTime, and executable only when they are on disk.
func Make(d Dockerfile, root string, made map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := add(tw, DockerfileName, d.Text, 0o644); err != nil {
		return nil, err
	}
	for _, src := range d.Sources {
		if src == DockerfileName {
			continue
		}
		file, ok := made[src]
		if !ok {
			file = filepath.Join(root, filepath.FromSlash(src))
		}
		data, mode, err := readRegular(file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the Dockerfile copies %s, which is neither made by the build nor a file of the repository", src)
		}
		if err != nil {
			return nil, fmt.Errorf("adding %s to the build context: %w", src, err)
		}
		if err := add(tw, src, data, mode); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the build context: %w", err)
	}
	return buf.Bytes(), nil
}

func readRegular(name string) ([]byte, int64, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, 0, err
	}
	mode := int64(0o644)
	if info.Mode()&0o111 != 0 {
		mode = 0o755
	}
	return data, mode, nil
}

func add(tw *tar.Writer, name string, data []byte, mode int64) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     int64(len(data)),
		Mode:     mode,
		ModTime:  ModTime,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("adding %s to the build context: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("adding %s to the build context: %w", name, err)
	}
	return nil
}
