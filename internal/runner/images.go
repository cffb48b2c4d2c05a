package runner

import (
	"context"
	"fmt"

	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// ImageState says whether a language's image is ready in containerd.
type ImageState struct {
	Language, Image, Digest string
	Present, Unpacked       bool
}

// CheckImages reports, without starting a runner, the state of every
// configured language's image in cfg's namespace.
func CheckImages(ctx context.Context, cfg Config) ([]ImageState, error) {
	c, err := sandbox.Dial(cfg.Socket, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, cfg.Namespace)
	var out []ImageState
	for name, lang := range cfg.Languages {
		s := ImageState{Language: name, Image: lang.Image}
		img, err := c.GetImage(ctx, lang.Image)
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			return nil, sandbox.Unavailable(fmt.Errorf("look up image %s: %w", lang.Image, err))
		default:
			s.Present, s.Digest = true, img.Target().Digest.String()
			s.Unpacked, _ = img.IsUnpacked(ctx, cfg.Snapshotter)
		}
		out = append(out, s)
	}
	return out, nil
}
