"""Running many runs: one run as a supervised subprocess, one after another or on Ray, with progress.

``launch.jobs`` (a run as a subprocess: its command, resume state, lock and measurements), ``launch.child``
(a run that stops with its launcher), ``launch.progress`` (done / running / pending and the ETA),
``launch.local`` (runs one after another in this process), ``launch.ray_backend`` (runs as Ray tasks on a
local instance or a cluster, with retries) and ``launch.sweep`` (a search over config fields on Ray Tune).
Ray is optional: only ``launch.ray_backend`` and ``launch.sweep`` import it, inside functions.
"""
