"""The README's code runs as printed: the plugin example passes the shipped contract checks."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from strategies.testing import check_strategy

REPO_ROOT = Path(__file__).resolve().parent.parent


def _python_blocks(section: str) -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


def test_readme_plugin_example_passes_the_contract_checks():
    (code,) = _python_blocks("Your own strategy")
    # A real module, so the dataclass can be pickled by the picklability check.
    module = types.ModuleType("readme_plugin_example")
    sys.modules[module.__name__] = module
    try:
        exec(compile(code, "README.md", "exec"), module.__dict__)
        names = check_strategy(module.FrontLoaded())
        check_strategy(module.FrontLoaded(front_weight=0.0))
    finally:
        sys.modules.pop(module.__name__, None)
    assert "check_valid_schedule" in names and "check_bad_parameters" in names


def test_readme_python_api_example_runs(shared_data_dir, monkeypatch, capsys):
    (code,) = _python_blocks("Python API")
    assert "../shared/data" in code and shared_data_dir.is_dir()
    monkeypatch.chdir(REPO_ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_api_example"})
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in out] == ["equal", "exact"]
    realised = [float(line.split("realised")[1].split()[0]) for line in out]
    assert realised[1] < realised[0]  # in sample, the exact optimum is cheaper
