"""Every Python example in the README runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    exec(compile(BLOCKS[index], f"README.md example {index + 1}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_readme_risk_file_example_is_a_valid_risk_config():
    import tomllib

    from risk.config import RiskConfig

    [block] = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    cfg = RiskConfig.from_mapping(tomllib.loads(block), "README.md")
    assert cfg.limits_for("acct-3").max_order_notional == 10_000
    assert cfg.limits_for("acct-1").max_order_notional == 50_000
