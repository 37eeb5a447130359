"""Shared library of the leer- en loopbaanrekening services."""
