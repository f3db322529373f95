"""Argument helpers shared by the subcommands."""

from __future__ import annotations

from engine.errors import ConfigError


def parse_params(pairs: list[str], flag: str = "--param") -> dict[str, str]:
    """["fast=10", "slow=30"] -> {"fast": "10", "slow": "30"}; ConfigError names the bad
    pair. The strategy's config class checks the keys and values."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(flag, f"{pair!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out
