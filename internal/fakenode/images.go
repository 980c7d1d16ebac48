package fakenode

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Images maps container images to programs on this machine: there is no
// container runtime here, so an image stands for the program it would run,
// with the image's ENTRYPOINT/CMD semantics. Anything else is refused.
type Images struct {
	// Gamehall runs every gamehall image (a repository named "gamehall",
	// any registry or tag): ENTRYPOINT ["/gamehall"], as the Dockerfile.
	Gamehall string
	// ByTag, if set, runs a gamehall image of that tag with another binary
	// (an upgrade test tells the versions apart by the program they run).
	ByTag map[string]string
	// RedisServer runs the official redis image (docker.io/library/redis).
	RedisServer string
}

// Command returns the argv a container runs, or an error saying why this
// node cannot run its image.
func (im Images) Command(c *corev1.Container) ([]string, error) {
	repo, tag := splitImage(c.Image)
	switch {
	case repo == "gamehall" || strings.HasSuffix(repo, "/gamehall"):
		bin := im.Gamehall
		if b, ok := im.ByTag[tag]; ok {
			bin = b
		}
		if bin == "" {
			return nil, fmt.Errorf("image %s: no gamehall binary configured", c.Image)
		}
		if len(c.Command) > 0 && c.Command[0] != "/gamehall" {
			return nil, fmt.Errorf("image %s has ENTRYPOINT /gamehall; command %q would not exist in it", c.Image, c.Command)
		}
		args := c.Args
		if len(c.Command) > 0 {
			args = append(append([]string{}, c.Command[1:]...), c.Args...)
		}
		return append([]string{bin}, args...), nil
	case repo == "redis" || repo == "library/redis" || repo == "docker.io/library/redis":
		if im.RedisServer == "" {
			return nil, fmt.Errorf("image %s: no redis-server configured", c.Image)
		}
		// docker-entrypoint.sh: CMD redis-server; arguments that start
		// with "-" or name a .conf file are given to redis-server.
		argv := append(append([]string{}, c.Command...), c.Args...)
		if len(argv) == 0 || strings.HasPrefix(argv[0], "-") || strings.HasSuffix(argv[0], ".conf") {
			argv = append([]string{"redis-server"}, argv...)
		}
		if argv[0] != "redis-server" {
			return nil, fmt.Errorf("image %s: this node runs only redis-server from it, not %q", c.Image, argv[0])
		}
		// The official image is built with protected mode off (it serves
		// other pods without a password); Debian's is not: say it here,
		// before the container's own arguments, which may override it.
		return append([]string{im.RedisServer, "--protected-mode", "no"}, argv[1:]...), nil
	}
	return nil, fmt.Errorf("image %q: this node stand-in has no container runtime; it runs gamehall images (as bin/gamehall) and the official redis image (as redis-server), nothing else", c.Image)
}

// splitImage returns an image's repository (registry included) and tag.
func splitImage(image string) (repo, tag string) {
	image, _, _ = strings.Cut(image, "@")
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[:i], image[i+1:]
	}
	return image, "latest"
}
