"""Run settings dataclasses and the CLI generated from them."""

from __future__ import annotations

import dataclasses

import pytest

from artrestore.cli import COMMANDS, build_parser
from artrestore.config import BenchConfig, dataclass_from_args


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_field_is_a_flag_with_the_same_default(command):
    cls = COMMANDS[command][0]
    required = [f for f in dataclasses.fields(cls) if f.metadata.get("positional")]
    flags = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f not in required]
    flags = [f for f in flags if f.default_factory is dataclasses.MISSING]  # required --flags, e.g. push --repo-id
    argv = [command] + ["x"] * len(required) + [a for f in flags for a in ("--" + f.name.replace("_", "-"), "x")]
    built = dataclass_from_args(cls, build_parser().parse_args(argv))
    assert built == cls(**{f.name: "x" for f in required + flags})
    for f in dataclasses.fields(cls):
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def test_flags_parse_to_typed_values():
    args = build_parser().parse_args(["bench", "--size", "768", "--limit", "3", "--methods", "none"])
    cfg = dataclass_from_args(BenchConfig, args)
    assert cfg.size == 768 and cfg.limit == 3 and cfg.methods == "none" and cfg.masks is None


def test_bad_type_is_rejected(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--size", "big"])
    assert "invalid int value" in capsys.readouterr().err
