"""The container image, for real: built with podman from the local base image, then run the way the chart
runs it (read-only root filesystem, the chart's init step and environment, no network) on the demo data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import pytest
import yaml

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "trading-system"
BASE_IMAGE = "python:3.11-slim"
IMAGE = "localhost/strategy-report:test"
APP_UID = 1000
# The default OCI runtime (crun) fails on these machines; runc needs both ulimits (TOOLING.md).
RUN = [
    "podman",
    "--runtime",
    "runc",
    "run",
    "--rm",
    "--network=none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
]
# What the chart's securityContext does to the containers.
LIKE_THE_CHART = ["--read-only", "--read-only-tmpfs=false", "--cap-drop=ALL", "--security-opt=no-new-privileges"]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
COMPILERS = ["gcc", "cc", "c++", "g++", "clang", "make", "ld"]


def run(cmd: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check(cmd: list[str], timeout: float = 900) -> str:
    """Run a command that must succeed; its standard output."""
    result = run(cmd, timeout)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def image() -> str:
    """Our image, built from the Dockerfile on a base image made locally if missing."""
    missing = [tool for tool in ("podman", "buildah", "runc") if shutil.which(tool) is None]
    assert not missing, f"missing {missing}: apt-get install podman buildah runc debootstrap"
    check([str(ROOT / "scripts" / "build-base-image.sh"), BASE_IMAGE], timeout=1200)
    # --no-cache: buildah 1.28 reuses a stale COPY layer when only files inside a copied folder changed.
    build = ["podman", "build", "--no-cache", "--pull=never", "--isolation=chroot", "--network=host"]
    # The registries are reached through a proxy with its own CA; it is mounted, never stored in the image.
    if Path(CA_BUNDLE).exists():
        build += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    check([*build, "-t", IMAGE, str(ROOT)])
    return IMAGE


def chart_cronjob() -> dict:
    """The CronJob the chart renders with its defaults."""
    manifests = helm.Chart.load(str(CHART)).render({}, name="trading-system", namespace="trading")
    text = next(t for p, t in manifests.items() if p.endswith("cronjob.yaml"))
    return yaml.safe_load(text)


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = run([hadolint, str(ROOT / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_config(image: str) -> None:
    config = json.loads(check(["podman", "image", "inspect", image, "--format", "{{json .Config}}"]))
    assert config["User"].split(":")[0] == str(APP_UID)
    assert config["Entrypoint"] == ["report"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["MPLCONFIGDIR"] == "/opt/matplotlib"


def test_runs_as_uid_1000_without_compilers(image: str) -> None:
    assert check([*RUN, "--entrypoint", "id", image, "-u"]).strip() == str(APP_UID)
    probe = "for c in " + " ".join(COMPILERS) + '; do command -v "$c" || true; done'
    assert check([*RUN, "--entrypoint", "sh", image, "-c", probe]).strip() == ""
    # The font cache was built at build time, by the app user.
    listing = check([*RUN, "--entrypoint", "sh", image, "-c", "ls -n /opt/matplotlib"])
    assert "fontlist-" in listing and f" {APP_UID} " in listing


def test_demo_report_runs_like_in_the_chart(image: str, tmp_path: Path) -> None:
    cronjob = chart_cronjob()
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    init, report = pod["initContainers"][0], pod["containers"][0]
    env = {e["name"]: e["value"] for e in report["env"] if "value" in e}
    # Host directories stand in for the pod's emptyDirs; the app user must be able to write them.
    volumes = {"tmp": tmp_path / "tmp", "state": tmp_path / "state"}
    for path in volumes.values():
        path.mkdir()
        path.chmod(0o777)
    mounts = [f"-v={volumes[m['name']]}:{m['mountPath']}" for m in report["volumeMounts"]]
    init_mounts = [f"-v={volumes[m['name']]}:{m['mountPath']}" for m in init["volumeMounts"]]

    # The chart's init container: the baked font cache to the writable MPLCONFIGDIR.
    command = init["command"]
    check([*RUN, *LIKE_THE_CHART, *init_mounts, "--entrypoint", command[0], image, *command[1:]])
    env_flags = [f"-e={k}={v}" for k, v in env.items()]
    result = run([*RUN, *LIKE_THE_CHART, *mounts, *env_flags, image, "--demo", "--output", "/tmp/out"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # matplotlib used the baked cache: no fallback to a temporary directory, no rebuild.
    assert "Matplotlib created a temporary cache directory" not in result.stderr
    assert "not a writable directory" not in result.stderr

    out = volumes["tmp"] / "out"
    report_json = json.loads((out / "report.json").read_text())
    assert report_json["schema_version"] == 1 and report_json["currency"] == "USDT"
    assert {a["agent_id"] for a in report_json["agents"]} >= {"vpin-hft", "trend-momentum-agent"}
    pngs = sorted(out.glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert (out / "report.html").stat().st_size > 0
    # Files written in the container belong to uid 1000 on the host (no user namespace): the report ran as it.
    assert {p.stat().st_uid for p in out.rglob("*")} == {APP_UID}

    cache = sorted((volumes["tmp"] / "matplotlib").glob("fontlist-*.json"))
    assert len(cache) == 1
    baked = check([*RUN, "--entrypoint", "sh", image, "-c", f"stat -c %Y /opt/matplotlib/{cache[0].name}"])
    assert int(cache[0].stat().st_mtime) == int(baked), "the font cache was rebuilt at run time"
    assert os.access(cache[0], os.R_OK)
