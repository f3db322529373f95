"""Hosting: the Ray actors, the runtime that starts them, and the `phalanx` command line.

Only this package imports `ray`, and only in the modules that define actors, so the CLI
and the in-process paper session import without starting anything.
"""
