"""Operator configuration: YAML files validated by pydantic (see :mod:`syncd.config.loader`)."""
