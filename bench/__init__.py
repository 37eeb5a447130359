"""Benchmarks (``make bench``): never part of ``make test``; figures go to a JSON file and a table."""
