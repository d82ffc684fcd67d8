"""Benchmark mode: accuracy against compute for a policy with test-time search, measured here.

- :mod:`~outthink.bench.problems`: problem sets (JSON lines; shipped samples; Hub datasets);
- :mod:`~outthink.bench.datasets`: fetching dataset files from the Hub, cached for offline use;
- :mod:`~outthink.bench.runner`: the resumable bench loop, results in ``DIR/results.jsonl``;
- :mod:`~outthink.bench.report`: ``summary.csv`` and the accuracy-vs-compute plot;
- :mod:`~outthink.bench.recommend`: the compute-optimal choice behind ``solve --strategy auto``;
- :mod:`~outthink.bench.budgets`: reading budget and name lists (``1,4,8``).

``outthink bench`` is :mod:`outthink.cli.bench`.

Nothing here imports Qt; the GUI's Benchmark tab drives the same iterator as the CLI.
"""
