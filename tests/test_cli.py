"""The command line as a user meets it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import assert_clean_error, run_skingan
from skingan.cli import build_parser, discover_commands


def test_help_lists_every_discovered_subcommand():
    result = run_skingan("--help")
    assert result.returncode == 0
    for module in discover_commands():
        assert module.NAME in result.stdout


def test_every_subcommand_has_help_with_example_and_common_flags():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        text = sub.format_help()
        assert "example:" in text, name
        for flag in ("--out", "--seed", "--device"):
            assert flag in text, f"{name} lacks {flag}"


def test_unknown_command_and_flag_are_one_line_errors():
    assert_clean_error(run_skingan("no-such-command"), "invalid choice")
    assert_clean_error(run_skingan("--no-such-flag"), "unrecognized arguments")


def test_version():
    result = run_skingan("--version")
    assert result.returncode == 0 and result.stdout.startswith("skingan ")


def _complete(line: str, tmp_path) -> list[str]:
    """What bash completion offers for `line`: the protocol `register-python-argcomplete skingan` installs."""
    target = tmp_path / "completions.txt"
    result = run_skingan(env={"_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
                              "_ARGCOMPLETE_STDOUT_FILENAME": str(target), "_ARGCOMPLETE_IFS": "\n"})
    assert result.returncode == 0, result.stderr
    return [word.strip() for word in target.read_text().split("\n") if word.strip()]


def test_shell_completion_offers_subcommands_and_flags(tmp_path):
    pytest.importorskip("argcomplete", reason="argcomplete is not installed (pip install '.[completion]')")
    offered = _complete("skingan ", tmp_path)
    assert {m.NAME for m in discover_commands()} | {"--version", "--debug"} <= set(offered)
    assert _complete("skingan exp", tmp_path) == ["experiment"]
    assert _complete("skingan experiment --sh", tmp_path) == ["--shard"]
    assert "--no-tensorboard" in _complete("skingan train-gan --no-", tmp_path)


def test_the_command_works_without_argcomplete():
    code = ("import sys; sys.modules['argcomplete'] = None; from skingan.cli import main; "
            "raise SystemExit(main(['--version']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("skingan ")
