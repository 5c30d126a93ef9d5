"""Writing a run's model in the formats other runtimes read, each export checked against the run's
own model before it is handed over (verify.py)."""
