"""The command line as a user meets it."""

from __future__ import annotations

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
