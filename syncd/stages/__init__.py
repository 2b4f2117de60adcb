"""Pipeline stages: each a batch job that claims rows, calls out, records the outcome, commits."""
