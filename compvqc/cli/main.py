"""``compvqc`` command line: parse, call the library, print (text or ``--json``), exit.

Exit codes: 0 success, 1 a compvqc error (one line on stderr), 2 a usage error (one line),
128 + signal number when SIGTERM (143) or SIGINT (130) stopped it (one line). Tests drive
:func:`main` in-process with an argv list; it installs the raising signal handlers of
:mod:`compvqc.signals` for the command's length and puts the caller's back afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys

from compvqc import signals
from compvqc.errors import CompVQCError, Terminated, UsageError

# One module per command; each defines ``register(subparsers)`` (which sets ``func``).
COMMANDS = ("compvqc.cli.train", "compvqc.cli.inspect", "compvqc.cli.compress", "compvqc.cli.lut", "compvqc.cli.evaluate",
            "compvqc.cli.export", "compvqc.cli.bench")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage text + exit."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from compvqc import __version__

    parser = _Parser(prog="compvqc", description="Compiler-aware compression of variational quantum circuits.")
    parser.add_argument("--version", action="version", version=f"compvqc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    with signals.handled():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            if args.command is None:
                parser.print_help()
                return 2
            return args.func(args)
        except Terminated as e:
            return signals.report(e)
        except UsageError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except CompVQCError as e:
            print(f"compvqc: error: {e}", file=sys.stderr)
            signum = getattr(e, "signum", None)  # a run stopped by SIGTERM/SIGINT after its final save
            return 128 + signum if signum else 1
        except OSError as e:
            print(f"compvqc: error: {e.filename or ''}: {e.strerror or e}".replace(": : ", ": "), file=sys.stderr)
            return 1
        except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
            print(f"compvqc: internal error: {type(e).__name__}: {e} (please report)", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # handlers could not be installed (not the main thread)
            print("compvqc: interrupted", file=sys.stderr)
            return 130


def emit(args, payload: dict, text: str) -> None:
    """Print ``payload`` as one JSON object with --json, else the human text."""
    if args.json:
        print(json.dumps(payload))
    else:
        print(text)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
