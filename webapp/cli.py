"""The `parkmap` command. Each subcommand lives in a module exposing ``register(subparsers)``."""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

from geo.errors import ParkmapError

# One line per command module; each adds its subcommands and sets ``func(args) -> int``.
_COMMAND_MODULES = ("webapp.commands.data", "webapp.commands.report", "webapp.commands.serve",
                    "webapp.commands.compare", "webapp.commands.suggestions", "webapp.commands.db")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parkmap",
        description="Shanghai online-new-economy plans on a map: build and check the layers, "
                    "serve the app, render figures, compare layouts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except ParkmapError as exc:
        print(f"parkmap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
