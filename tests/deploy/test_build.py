"""The Lambda build's logic, fast (the full build is `make lambda-build`, which downloads
the wheels and imports every handler from its output)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mrbatch.aws.deploy import build
from mrbatch.errors import ConfigError


def _tree(root: Path) -> Path:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "b.py").write_text("import pkg\n")
    (root / "pkg" / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"cache")
    (root / "pkg" / "a.json").write_text("{}")
    return root


def test_zip_is_identical_when_built_twice_from_files_of_other_times(tmp_path: Path) -> None:
    source = _tree(tmp_path / "src")
    build.reproducible_zip(source, tmp_path / "one.zip", prefix="python")
    for path in source.rglob("*"):
        path.touch()  # new modification times must not change the zip
    build.reproducible_zip(source, tmp_path / "two.zip", prefix="python")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        names = archive.namelist()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert names == ["python/pkg/__init__.py", "python/pkg/a.json", "python/pkg/b.py"]


def test_layer_requirements_are_the_dependencies_less_the_runtime_and_local_extra() -> None:
    names = {r.split(">")[0].split("=")[0] for r in build.layer_requirements()}
    assert {"polars", "fastjsonschema", "jsonschema", "awscrt"} <= names
    assert not names & {"boto3", "botocore", "typer", "aiosmtpd", "pyyaml"}


def test_size_check_fails_when_the_build_exceeds_the_limit() -> None:
    build.check_size(build.LIMIT_BYTES)
    with pytest.raises(ConfigError, match="231 MB unzipped"):
        build.check_size(build.LIMIT_BYTES + 2**20)


def test_python311_takes_only_wheels_that_run_on_amazon_linux_2() -> None:
    assert build.platforms("3.11", "x86_64") == ("manylinux2014_x86_64",)
    assert "manylinux_2_34_aarch64" in build.platforms("3.12", "arm64")
    with pytest.raises(ConfigError):
        build.platforms("3.10", "x86_64")


def test_deployed_handlers_are_the_lambda_module_functions() -> None:
    handlers = build.deployed_handlers()
    assert "mrbatch.aws.lambdas.split_input_file" in handlers and len(handlers) == 14


def _zips(tmp_path: Path, module: str) -> tuple[Path, Path]:
    code = tmp_path / "code"
    (code / "app").mkdir(parents=True)
    (code / "app" / "__init__.py").write_text("")
    (code / "app" / "entry.py").write_text(module)
    layer = tmp_path / "site"
    (layer / "dep").mkdir(parents=True)
    (layer / "dep" / "__init__.py").write_text("ANSWER = 42\n")
    build.reproducible_zip(code, tmp_path / "out" / "code.zip")
    build.reproducible_zip(layer, tmp_path / "out" / "layer.zip", prefix="python")
    return tmp_path / "out" / "code.zip", tmp_path / "out" / "layer.zip"


def test_import_check_passes_when_handlers_need_only_the_build(tmp_path: Path) -> None:
    code, layer = _zips(
        tmp_path, "import dep\ndef handler(event, context):\n    return dep.ANSWER\n"
    )
    build.check_imports(code, layer, tmp_path / "runtime", ["app.entry.handler"])


def test_import_check_fails_when_a_handler_imports_what_only_this_venv_has(tmp_path: Path) -> None:
    # typer is installed here (the local extra) but not in the build: isolation must show it
    code, layer = _zips(tmp_path, "import typer\ndef handler(event, context):\n    return 1\n")
    with pytest.raises(ConfigError, match="No module named 'typer'"):
        build.check_imports(code, layer, tmp_path / "runtime", ["app.entry.handler"])
