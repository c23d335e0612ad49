"""The README and the pages in docs/ say only what is true of the code: every page is
reachable from the README, every link and path resolves, every Python name exists, and
the command-line page names every option ``run`` has, and no option it lacks."""

import importlib
import re
from pathlib import Path

import pytest

from dna_tutorial.app.cli import build_parser
from dna_tutorial.config import RunConfig
from dna_tutorial.datafiles import ReadOptions
from dna_tutorial.dataset import SyntheticOptions
from dna_tutorial.options import declared, flag

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
TEXTS = [ROOT / "README.md", *PAGES]
PACKAGES = "dna_tutorial|reference_torch|jax_impl|nnx_impl|parity_tests|benchmarks|experiments"
FOLDERS = f"{PACKAGES}|notebooks|docs|tests"


def test_every_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert len(PAGES) >= 10
    for page in PAGES:
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_links_and_paths_resolve(path):
    text = path.read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (path.parent / target).exists(), f"{path.name} links {target}, which is absent"
    for named in re.findall(rf"`((?:{FOLDERS})/[\w./-]+)`", text):
        if not any(c in named for c in "*{<"):
            assert (ROOT / named.rstrip("/.")).exists(), f"{path.name} names {named}, absent"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_every_python_name_exists(path):
    for dotted in sorted(set(re.findall(rf"`((?:{PACKAGES})(?:\.\w+)+)`", path.read_text()))):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{path.name} names {dotted}, which does not exist"
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{path.name} names {dotted}, which does not exist")


def _run_flags() -> set[str]:
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # argparse keeps them here
    return {s for action in run._actions for s in action.option_strings if s.startswith("--")}


def test_the_command_line_page_names_every_run_option_and_only_real_ones():
    page = (ROOT / "docs" / "command-line.md").read_text()
    flags = _run_flags() - {"--help"}
    declared_flags = {
        flag(f, o) for s in (RunConfig, SyntheticOptions, ReadOptions) for f, o in declared(s)
    }
    assert declared_flags <= flags
    for name in sorted(flags):
        assert f"`{name}" in page, f"docs/command-line.md does not mention {name}"
    section = page.split("## `run`", 1)[1].split("\n## ", 1)[0]
    for name in set(re.findall(r"`(--[a-z-]+)", section)):
        assert name in flags, f"docs/command-line.md names {name}, which run does not take"
