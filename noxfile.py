"""Developer tasks: ``nox -s tests``, ``services``, ``lint``, ``typecheck``, ``docs``, ``fuzz``,
``bench``.

Every session runs on the interpreter that runs nox and installs what it needs itself.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the installed package (not the source tree)."""
    session.install(".[test,ed25519,fast,cli,postgres,otel]", *_group("test"))
    session.run("pytest", *session.posargs)


@nox.session
def wheel(session: nox.Session) -> None:
    """Test what users install: build the sdist and wheel, install the wheel, and run the
    sdist's test suite with the source tree (src/, pytest_plugin/) removed from under it."""
    import shutil
    import tarfile
    from pathlib import Path

    session.install("build")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), silent=True)
    (wheel_file,) = dist.glob("*.whl")
    (sdist_file,) = dist.glob("*.tar.gz")
    session.install(f"{wheel_file}[test,ed25519,fast,cli,postgres,otel]", *_group("test"))
    unpacked = Path(session.create_tmp()) / "sdist"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(sdist_file) as archive:
        archive.extractall(unpacked, filter="data")
    (tree,) = unpacked.iterdir()
    for source in ("src", "pytest_plugin"):
        shutil.rmtree(tree / source)
    with session.chdir(tree):
        session.run(
            "python",
            "-c",
            "import webhook_kit, pytest_webhook_kit as p, importlib.metadata as m;"
            "assert 'site-packages' in webhook_kit.__file__ and 'site-packages' in p.__file__;"
            "assert any(e.name == 'webhook_kit' for e in m.entry_points(group='pytest11'))",
        )
        session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def services(session: nox.Session) -> None:
    """Only the tests that talk to real servers (PostgreSQL); a missing server fails them."""
    session.install(".[test,ed25519,fast,cli,postgres]", *_group("test"))
    session.run(
        "pytest", "-m", "postgresql", *session.posargs, env={"WEBHOOK_KIT_REQUIRE_SERVICES": "1"}
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library and the pytest plugin."""
    session.install(".[ed25519,fast,cli,postgres,otel]", *_group("typecheck"))
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with mkdocs, warnings as errors."""
    session.install(".", *_group("docs"))
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        session.create_tmp() + "/site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz verify (every scheme), the Retry-After parser and the target URL check (with both
    HTTP stacks): atheris where it installs, else Hypothesis; ``nox -s fuzz -- --seconds 60``
    per target."""
    session.install(".[ed25519,fast]", "hypothesis>=6.100")
    try:
        session.install("atheris>=2.3")
    except nox.command.CommandFailed:
        session.log("atheris does not install here: fuzzing with Hypothesis instead")
    session.run("python", "fuzz/run.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Print benchmark figures as ratios against the peers, measured side by side."""
    session.install(".[ed25519,fast,test,postgres]", *_group("bench"))
    session.run("python", "bench/run.py", *session.posargs)
