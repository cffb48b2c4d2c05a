package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the files WriteFiles writes.
const (
	MarkdownFile = "results.md"
	JSONFile     = "results.json"
	ChartFile    = "latency.png"
)

// WriteFiles writes results.md, results.json and latency.png into dir,
// creating it if needed.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := r.JSON()
	if err != nil {
		return fmt.Errorf("encode %s: %w", JSONFile, err)
	}
	var png bytes.Buffer
	if err := r.WriteChart(&png); err != nil {
		return fmt.Errorf("draw %s: %w", ChartFile, err)
	}
	for name, data := range map[string][]byte{
		MarkdownFile: []byte(r.Markdown()),
		JSONFile:     append(js, '\n'),
		ChartFile:    png.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
