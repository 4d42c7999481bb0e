"""One module per subcommand.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line), ``EXAMPLE`` (shown in ``--help``),
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports (torch, pandas) belong inside ``run``
so that ``skingan --help`` stays fast. The CLI discovers modules here automatically.
"""
