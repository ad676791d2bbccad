"""Benchmarks of paylinks (issue #8): each figure measured beside a baseline in the same run.

Run `python -m bench.run` (or `make bench`); see bench/README.md.
"""
