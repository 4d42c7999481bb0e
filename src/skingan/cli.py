# PYTHON_ARGCOMPLETE_OK  (argcomplete's marker: tab completion of every subcommand and flag)
"""The `skingan` command: discovers one module per subcommand and turns user mistakes into one line."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import pkgutil
import sys
import traceback
from types import ModuleType

from skingan import __version__
from skingan.errors import UserError

# Order in `skingan --help`: the stages of the study. Modules not listed here come after, sorted.
STAGE_ORDER = [
    "quickstart",
    "download",
    "prepare",
    "train-gan",
    "sample",
    "evaluate-gan",
    "train-classifier",
    "evaluate-classifier",
    "experiment",
    "report",
]

DEBUG_ENV = "SKINGAN_DEBUG"
DEFAULT_RESUME_HINT = "Run the same command again to resume (finished work is kept)."


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line (`skingan X: error: ...`) with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def discover_commands() -> list[ModuleType]:
    import skingan.commands as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"skingan.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)

    def order(module: ModuleType) -> tuple[int, str]:
        name = module.NAME
        return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)

    return sorted(modules, key=order)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="skingan",
        description=(
            "GAN-based data augmentation for skin-lesion (melanoma) classification on ISIC images.\n"
            "Each subcommand is one stage of the study; each reads what the previous one wrote."
        ),
        epilog="Run 'skingan COMMAND --help' for a command's options and an example.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skingan {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks (also SKINGAN_DEBUG=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in discover_commands():
        example = getattr(module, "EXAMPLE", "").strip()
        sub = subparsers.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.HELP + (f"\n\nexample:\n  {example}" if example else ""),
            formatter_class=_Formatter,
        )
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run, _resume_hint=getattr(module, "RESUME_HINT", DEFAULT_RESUME_HINT))
    return parser


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def _forget_caught_interrupt() -> None:
    """Make `python -m skingan` exit with our 130 after a Ctrl-C we handled.

    CPython (3.8 to 3.13 at least) flags an interrupt as unhandled when it ends code run from a string (exec/eval,
    as dataclasses, namedtuple and torch do internally) even if a caller catches it, and `python -m` then kills
    itself with SIGINT at exit instead of returning our code. Every string evaluation clears the flag first.
    """
    eval("None")


def enable_completion(parser: argparse.ArgumentParser) -> None:
    """bash/zsh tab completion when argcomplete is installed (`eval "$(register-python-argcomplete skingan)"`);
    it answers and exits only when the shell asks (_ARGCOMPLETE set), so it costs nothing otherwise."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    enable_completion(parser)
    args = parser.parse_args(argv)
    if getattr(args, "no_tensorboard", False):
        from skingan import tracking

        tracking.configure(False)
    debug = getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _configure_logging()
    try:
        return int(args._run(args) or 0)
    except UserError as error:
        if debug:
            traceback.print_exc()
        print(f"skingan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "_resume_hint", DEFAULT_RESUME_HINT)
        print(f"\nskingan {args.command}: interrupted. {hint}", file=sys.stderr)
        _forget_caught_interrupt()
        return 130
    except OSError as error:
        if debug:
            traceback.print_exc()
        where = f" '{error.filename}'" if getattr(error, "filename", None) else ""
        resume = getattr(args, "_resume_hint", DEFAULT_RESUME_HINT)
        hint = (f"; free some space (or choose another --out), then {resume[0].lower()}{resume[1:]}"
                if error.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        print(f"skingan {args.command}: error: {error.strerror or error}{where}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
