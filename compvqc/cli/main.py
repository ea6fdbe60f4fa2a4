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

# One module per command group; each defines ``register(subparsers)`` (which sets ``func``). The
# command names and one-line helps are here, so that ``compvqc --help`` (and the choice of a
# command) builds no command's arguments: those read the library's defaults, which import numpy,
# networkx and the rest. Only the invoked command's module registers in full.
COMMANDS = {  # command: (module, help, aliases)
    "train": ("compvqc.cli.train", "train a VQC on a dataset and write the model file", ()),
    "demo": ("compvqc.cli.train", "the download-free end-to-end demo (digits2)", ()),
    "inspect": ("compvqc.cli.inspect", "print everything a checkpoint holds", ()),
    "compress": ("compvqc.cli.compress", "compress a trained model for a backend", ()),
    "lut": ("compvqc.cli.lut", "build or show compression-level LUTs", ()),
    "tcd": ("compvqc.cli.lut", "transpiled circuit depth of a model on a backend", ("depth",)),
    "evaluate": ("compvqc.cli.evaluate", "deploy a model on a backend: noisy accuracy, TCD and cost measures", ()),
    "export": ("compvqc.cli.export", "write the model's circuit (qasm3 or qiskit-qpy)", ()),
    "bench": ("compvqc.cli.bench", "benchmark sweeps: depth-versus-accuracy fronts", ()),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage text + exit."""

    def error(self, message):  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def help_of(command: str) -> str:
    return COMMANDS[command][1]


def _invoked(argv) -> str | None:
    """The command ``argv`` names (its first word that is not an option), aliases resolved."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return next((c for c, (_, _, aliases) in COMMANDS.items() if word == c or word in aliases), None)


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it invokes gets its arguments (None: all)."""
    import importlib

    from compvqc import __version__

    parser = _Parser(prog="compvqc", description="Compiler-aware compression of variational quantum circuits.")
    parser.add_argument("--version", action="version", version=f"compvqc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    invoked = _invoked(argv) if argv is not None else None
    full = {COMMANDS[invoked][0]} if invoked else set() if argv is not None else {m for m, _, _ in COMMANDS.values()}
    done = set()
    for command, (module, text, aliases) in COMMANDS.items():
        if module in full:
            if module not in done:
                importlib.import_module(module).register(sub)
                done.add(module)
        else:
            sub.add_parser(command, help=text, aliases=list(aliases))
    return parser


def main(argv: list[str] | None = None) -> int:
    with signals.handled():
        try:
            argv = sys.argv[1:] if argv is None else list(argv)
            parser = build_parser(argv)
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
