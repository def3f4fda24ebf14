package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	reg "github.com/oc-lettings/oc-lettings/magefiles/internal/registry"
)

// ContainerSpec describes a container that serves HTTP on one port.
type ContainerSpec struct {
	Name   string            // unique container name
	Image  string            // image reference or ID
	Env    []string          // KEY=value entries
	Port   int               // the port the container listens on, published on the same host port of 127.0.0.1
	Labels map[string]string // container labels, to find it again
}

// CreateContainer creates (but does not start) the container spec describes
// and returns its ID. Its port is published on 127.0.0.1 only, never on
// the machine's other addresses. A missing image is a *NotFoundError.
func (e *Engine) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	port, err := network.ParsePort(strconv.Itoa(spec.Port) + "/tcp")
	if err != nil {
		return "", fmt.Errorf("port %d: %w", spec.Port, err)
	}
	res, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: spec.Name,
		Config: &container.Config{
			Image:        spec.Image,
			Env:          spec.Env,
			Labels:       spec.Labels,
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			PortBindings: network.PortMap{port: {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), HostPort: strconv.Itoa(spec.Port)}}},
		},
	})
	if cerrdefs.IsNotFound(err) {
		return "", &reg.NotFoundError{Ref: spec.Image, Err: err}
	}
	if err != nil {
		return "", fmt.Errorf("creating the container %s from %s: %w", spec.Name, spec.Image, err)
	}
	return res.ID, nil
}

// StartContainer starts a created container. When its port is taken,
// IsPortInUse reports true for the error.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if _, err := e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting the container: %w", err)
	}
	return nil
}

// IsPortInUse reports whether err is the engine saying that the port a
// container should publish is already taken on the host.
func IsPortInUse(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

// Containers returns the containers, running or not, that carry every one
// of labels, as a map from each one's name to all its labels.
func (e *Engine) Containers(ctx context.Context, labels map[string]string) (map[string]map[string]string, error) {
	filters := client.Filters{}
	for k, v := range labels {
		filters.Add("label", k+"="+v) // the engine wants them all to match
	}
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("listing the containers: %w", err)
	}
	found := make(map[string]map[string]string, len(res.Items))
	for _, c := range res.Items {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		found[name] = c.Labels
	}
	return found, nil
}

// FollowLogs copies the container's output (standard output to stdout,
// standard error to stderr) from its start until it stops or ctx ends.
func (e *Engine) FollowLogs(ctx context.Context, id string, stdout, stderr io.Writer) error {
	rc, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return fmt.Errorf("reading the container's log: %w", err)
	}
	defer func() { _ = rc.Close() }()
	if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the container's log: %w", err)
	}
	return nil
}

// WaitContainer waits until the started container stops, and returns its
// exit code.
func (e *Engine) WaitContainer(ctx context.Context, id string) (int, error) {
	w := e.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case res := <-w.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("waiting for the container: %s", res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-w.Error:
		return 0, fmt.Errorf("waiting for the container: %w", err)
	}
}

// RemoveContainer stops the container (SIGTERM, then SIGKILL after grace)
// and removes it. A container that is already gone is not an error.
func (e *Engine) RemoveContainer(ctx context.Context, id string, grace time.Duration) error {
	seconds := int(grace.Round(time.Second) / time.Second)
	_, stopErr := e.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &seconds})
	_, err := e.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	if stopErr != nil && !cerrdefs.IsNotFound(stopErr) {
		err = errors.Join(stopErr, err)
	}
	return fmt.Errorf("removing the container: %w", err)
}
