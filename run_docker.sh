#!/bin/sh
# Runs the OC Lettings site locally in Docker, as documented:
#
#   export DOCKERHUB_USERNAME=<your Docker Hub user>
#   ./run_docker.sh
#
# pulls <user>/oc-lettings:latest and serves it on http://127.0.0.1:8000/
# (PORT changes the port) until Ctrl-C. Without DOCKERHUB_USERNAME it builds
# the image of this checkout and runs that. It is a shim over
# `go tool mage runLocal`, which says more: go tool mage -h runLocal.
# Without Go, it does what it did before mage, with the docker command alone.
set -eu

cd "$(dirname "$0")"

if ! command -v go >/dev/null 2>&1; then
	if command -v docker >/dev/null 2>&1 && [ -n "${DOCKERHUB_USERNAME:-}" ]; then
		image="$DOCKERHUB_USERNAME/oc-lettings:latest"
		echo "run_docker.sh: Go is not installed: running $image with docker alone, on http://localhost:8000/" >&2
		docker pull "$image"
		exec docker run --rm -p 8000:8000 -e PORT=8000 "$image"
	fi
	echo "run_docker.sh: Go is not installed (or not in PATH), and it runs the pipeline." >&2
	echo "Install Go 1.26 or later from https://go.dev/dl/ (or your package manager), then run ./run_docker.sh again;" >&2
	echo "or, with Docker, export DOCKERHUB_USERNAME=<user> to run <user>/oc-lettings:latest." >&2
	exit 1
fi

echo "run_docker.sh: running go tool mage runLocal (its first run compiles for about 40 s)" >&2
exec go tool mage runLocal
