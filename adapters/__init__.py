"""One module (or package) per outside system, plus the sandbox simulators.

:mod:`adapters.builtin` registers every built-in adapter with :mod:`syncd.registry`.
"""
