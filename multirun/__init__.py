"""Running many runs: one run as a supervised subprocess, one after another or on Ray, with progress.

``multirun.jobs`` (a run as a subprocess: its command, resume state, lock and measurements),
``multirun.child`` (a run that stops with its launcher), ``multirun.progress`` (done / running /
pending and the ETA), ``multirun.local`` (runs one after another in this process),
``multirun.ray_backend`` (runs as Ray tasks on a local instance or a cluster, with retries) and
``multirun.sweep`` (a search over config fields on Ray Tune). Ray is optional: only
``multirun.ray_backend`` and ``multirun.sweep`` import it, inside functions.
"""
