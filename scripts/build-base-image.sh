#!/usr/bin/env bash
# Make a local stand-in for the official python:3.11-slim image with debootstrap, because no base image
# can be pulled here (TOOLING.md). Idempotent: does nothing when the image already exists.
# Usage: scripts/build-base-image.sh [IMAGE_NAME]   (default python:3.11-slim)
set -euo pipefail

image="${1:-python:3.11-slim}"
if podman image exists "$image"; then
    echo "base image $image already present"
    exit 0
fi

for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install podman buildah runc debootstrap" >&2; exit 1; }
done

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" && -f /etc/apt/sources.list.d/debian.sources ]]; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs=$(mktemp -d /tmp/base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3 \
    bookworm "$rootfs" "$mirror"
# The official image lets pip install into the system interpreter; Debian's marker forbids it.
rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
# Keep the image small: package caches are not needed at run time.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | podman import - "$image"
echo "base image $image built"
