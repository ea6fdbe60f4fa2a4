"""The ``compvqc`` command line; :func:`run` is the console entry point."""


def run() -> int:
    """Console entry point: signal handlers first, then everything else.

    Python cannot handle a signal before its first line runs; this is as early as it gets: the
    handlers go in before numpy, onnx or qiskit are imported (``compvqc`` and this package
    import lazily), so the window in which SIGTERM/SIGINT simply end the process is Python's own
    start-up (measured in benchmarks/RESULTS.md, Reliability). After the command both signals are
    ignored: its work is done and written, and interpreter teardown would reset the handlers.
    """
    from compvqc import signals
    from compvqc.errors import Terminated

    signals.install()
    try:
        from compvqc.cli.main import main

        code = main()
    except Terminated as e:  # during the import of the CLI, or as main returned
        code = signals.report(e)
    signals.ignore()
    return code
