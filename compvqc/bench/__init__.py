"""Benchmark harness: depth-versus-accuracy sweeps, Pareto fronts, statistics and plots.

The third way to reach compvqc (beside the CLI's single commands and library calls): a
:class:`~compvqc.bench.grid.Sweep` names datasets, methods, knob ranges and seeds;
:func:`~compvqc.bench.harness.run_sweep` trains each vanilla model once and runs every point
(resumable, in local processes or on a dask cluster); :mod:`~compvqc.bench.fronts` turns the rows
into fronts, hypervolumes, paired intervals and operating points; :mod:`~compvqc.bench.plots`
draws them. ``compvqc bench pareto`` does all of it.
"""
