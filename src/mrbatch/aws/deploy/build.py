"""`make lambda-build`: one code zip for every function and one dependency layer.

The layer holds what the functions import (the project's own dependencies, read from
pyproject.toml) except boto3/botocore, which the Lambda runtime provides; pip installs
them for Lambda's platform, whatever machine builds (`--platform --only-binary=:all:
--python-version`). python3.11 runs on Amazon Linux 2 (glibc 2.26), so only manylinux2014
wheels fit it; python3.12 runs on Amazon Linux 2023 (glibc 2.34).

Both zips are reproducible: entries sorted, one fixed timestamp, fixed permissions, no
bytecode caches; shared objects are stripped of debug symbols when `strip` exists. The build
fails above 230 MB unzipped (Lambda allows 250 MB for a function and its layers).

Usage: python -m mrbatch.aws.deploy.build [--out build/lambda] [--python 3.11] [--arch x86_64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mrbatch.aws.deploy.templates import load_template
from mrbatch.errors import ConfigError

__all__ = [
    "LIMIT_BYTES",
    "Artifacts",
    "build",
    "check_imports",
    "layer_requirements",
    "platforms",
    "reproducible_zip",
    "unzipped_size",
]

ROOT = Path(__file__).resolve().parents[4]
LIMIT_BYTES = 230 * 1024 * 1024
FROM_THE_RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath"}
"""What every Lambda Python runtime already ships: not put in the layer."""
_EPOCH = (1980, 1, 1, 0, 0, 0)
_PLATFORMS = {
    ("3.11", "x86_64"): ("manylinux2014_x86_64",),
    ("3.11", "arm64"): ("manylinux2014_aarch64",),
    ("3.12", "x86_64"): ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
    ("3.12", "arm64"): (
        "manylinux2014_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_34_aarch64",
    ),
}


@dataclass(frozen=True)
class Artifacts:
    """The two zips and their unzipped total."""

    code: Path
    layer: Path
    unzipped_bytes: int


def platforms(python: str, arch: str) -> tuple[str, ...]:
    """pip's `--platform` tags whose wheels run on Lambda's `python<python>` on `arch`."""
    try:
        return _PLATFORMS[(python, arch)]
    except KeyError:
        raise ConfigError(
            f"no Lambda runtime python{python} on {arch} (3.11 or 3.12; x86_64 or arm64)"
        ) from None


def layer_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's dependencies (what the functions import) less the runtime's own."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    kept = []
    for requirement in project["dependencies"]:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        if name not in FROM_THE_RUNTIME:
            kept.append(requirement)
    return kept


def reproducible_zip(source: Path, target: Path, prefix: str = "") -> None:
    """Zip every file under `source` (as `prefix/relative path`) the same way every time:
    sorted entries, one timestamp, 0644/0755 modes, no __pycache__ or .pyc."""
    files = sorted(
        p for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            name = (
                str(Path(prefix) / path.relative_to(source))
                if prefix
                else str(path.relative_to(source))
            )
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def unzipped_size(*zips: Path) -> int:
    """The bytes the zips take once extracted (what Lambda's 250 MB limit counts)."""
    total = 0
    for path in zips:
        with zipfile.ZipFile(path) as archive:
            total += sum(info.file_size for info in archive.infolist())
    return total


def check_size(total: int, limit: int = LIMIT_BYTES) -> None:
    """ConfigError when the function and its layer would not fit under `limit`."""
    if total > limit:
        raise ConfigError(
            f"the code and layer take {total / 2**20:.0f} MB unzipped, above the "
            f"{limit / 2**20:.0f} MB this build allows (Lambda's limit is 250 MB)"
        )


def build(out: Path, *, python: str = "3.11", arch: str = "x86_64") -> Artifacts:
    """Build `out`/code.zip and `out`/layer.zip for Lambda's python`python` on `arch`."""
    staging = out / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "layer" / "python"
    _pip_install(layer_requirements(), site, python, arch)
    _strip(site)
    code, layer = out / "code.zip", out / "layer.zip"
    reproducible_zip(ROOT / "src" / "mrbatch", code, prefix="mrbatch")
    reproducible_zip(site, layer, prefix="python")
    total = unzipped_size(code, layer)
    check_size(total)
    runtime = out / "runtime"  # boto3 as the Lambda runtime ships it (not in the layer)
    shutil.rmtree(runtime, ignore_errors=True)
    _pip_install(["boto3"], runtime, python, arch)
    check_imports(code, layer, runtime, deployed_handlers())
    return Artifacts(code, layer, total)


def deployed_handlers() -> list[str]:
    """The Handler of every function in deploy/aws/regional.yaml."""
    resources = load_template("regional")["Resources"]
    return sorted(
        r["Properties"]["Handler"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    )


def check_imports(code: Path, layer: Path, runtime: Path, handlers: Iterable[str]) -> None:
    """Import every handler ("package.module.function") from the zips alone, as Lambda
    would: an isolated interpreter (`-I -S`: no site-packages, no environment, no current
    directory) whose path is the code, the layer's python/ and `runtime` (boto3, as the
    Lambda runtime ships it). ConfigError with the interpreter's error if any fails."""
    unpacked = code.parent / "check"
    shutil.rmtree(unpacked, ignore_errors=True)
    for archive, folder in ((code, unpacked / "code"), (layer, unpacked / "layer")):
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder)
    paths = [str(unpacked / "code"), str(unpacked / "layer" / "python"), str(runtime)]
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = {paths!r}\n"
        f"for handler in {sorted(handlers)!r}:\n"
        "    module, _, name = handler.rpartition('.')\n"
        "    assert callable(getattr(importlib.import_module(module), name)), handler\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise ConfigError(f"a handler does not import from the build alone:\n{run.stderr}")


def _pip_install(requirements: Iterable[str], target: Path, python: str, arch: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
               "--target", str(target), "--only-binary=:all:", "--implementation", "cp",
               "--python-version", python]  # fmt: skip
    for tag in platforms(python, arch):
        command += ["--platform", tag]
    subprocess.run([*command, *requirements], check=True)


def _strip(site: Path) -> None:
    """Debug symbols off the shared objects (when binutils' strip is here)."""
    strip = shutil.which("strip")
    if strip is None:
        return
    for library in sorted(site.rglob("*.so")):
        subprocess.run([strip, "--strip-debug", str(library)], check=False)


def main(argv: list[str] | None = None) -> int:
    """The command line of `make lambda-build`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--python", default="3.11", choices=["3.11", "3.12"])
    parser.add_argument("--arch", default="x86_64", choices=["x86_64", "arm64"])
    args = parser.parse_args(argv)
    artifacts = build(args.out, python=args.python, arch=args.arch)
    print(f"{artifacts.code} {artifacts.code.stat().st_size / 2**20:.1f} MB, "
          f"{artifacts.layer} {artifacts.layer.stat().st_size / 2**20:.1f} MB zipped; "
          f"{artifacts.unzipped_bytes / 2**20:.0f} MB unzipped")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
