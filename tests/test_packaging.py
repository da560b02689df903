"""The distribution as users get it: a wheel named conversa-state, installed into a fresh venv.

The wheel is built from this tree without build isolation (hatchling comes with the
`dev` extra), so no step needs the network: the venv gets the wheel alone
(`--no-deps --no-index`) and reaches conversa's dependencies through a `.pth` line
naming this interpreter's site-packages. That line is read after the venv's own
site-packages and processes no `.pth` file of its own, so the editable install of
the tree under test is not on the path: `import conversa` can only find the wheel.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import conversa

ROOT = Path(__file__).resolve().parent.parent
DIST = "conversa-state"
#: An install line or an extra under the old name, which is PyPI's unit converter.
OLD_NAME = re.compile(
    r"""(pip install\s+["']?conversa(?![-\w.])|(?<![-\w])conversa\\?\[)"""
)
TEXT = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".sh"}


def run(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run *args* offline (no key, no PYTHONPATH, no index), failing with its stderr."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANTHROPIC_", "PYTHON", "PIP_", "VIRTUAL_ENV"))
    }
    env["PIP_NO_INDEX"] = "1"
    result = subprocess.run(  # noqa: S603 - our own interpreters and files
        args,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(name="installed", scope="module")
def _installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A wheel built from the tree and a fresh venv with it installed: (wheel, python)."""
    work = tmp_path_factory.mktemp("packaging")
    dist = work / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        cwd=work,
    )
    (wheel,) = dist.glob("*.whl")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run(
        [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        cwd=work,
    )
    site = run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        cwd=work,
    ).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "zz_dependencies.pth").write_text(
        "".join(f"{p}\n" for p in sorted(here))
    )
    return wheel, python


def test_nothing_tells_users_to_install_the_old_name() -> None:
    """No install line or hint, in code, docs, examples or CI, names `conversa` alone."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        # Hidden folders (.git, .venv, caches) but CI's, and the built docs site.
        dirs[:] = [
            d for d in dirs if d == ".ci" or not (d.startswith(".") or d == "site")
        ]
        for name in files:
            path = Path(folder, name)
            if path.suffix in TEXT or path.parent.name == ".ci":
                text = path.read_text(encoding="utf-8", errors="replace")
                found += [f"{path}: {m.group(0)}" for m in OLD_NAME.finditer(text)]
    assert found == []


def test_version_reads_the_distributions_metadata() -> None:
    """conversa.__version__ is conversa-state's installed version."""
    assert conversa.__version__ == importlib.metadata.version(DIST)
    assert conversa.__version__ != "0.0.0"


def test_wheel_is_conversa_state_holding_the_conversa_package(
    installed: tuple[Path, Path],
) -> None:
    """The wheel is named conversa-state and ships `conversa` (typed) and nothing else."""
    wheel, _ = installed
    assert wheel.name.startswith("conversa_state-")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        headers = archive.read(metadata).decode()
    assert f"Name: {DIST}\n" in headers
    assert "conversa/py.typed" in names
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"conversa"}


def test_fresh_venv_runs_the_quickstart_offline(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    """From the wheel alone, in a new venv: the import, the version, the quickstart."""
    wheel, python = installed
    version = wheel.name.split("-")[1]
    probe = run(
        [
            str(python),
            "-c",
            "import conversa, importlib.metadata as m;"
            "print(conversa.__file__);"
            f"print(conversa.__version__, m.version({DIST!r}))",
        ],
        cwd=tmp_path,
    ).stdout.splitlines()
    assert Path(probe[0]).is_relative_to(python.parent.parent)
    assert probe[1] == f"{version} {version}"

    result = run(
        [str(python), str(ROOT / "examples" / "quickstart.py"), "--offline"],
        cwd=tmp_path,
    )
    assert "assistant (streamed):" in result.stdout
    assert (tmp_path / "quickstart.db").exists()
    run([str(python.parent / "conversa"), "--help"], cwd=tmp_path)
