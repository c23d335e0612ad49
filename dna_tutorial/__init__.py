"""dna-tutorial's framework-free core: what both ports and the application build on.

It imports neither torch, JAX nor matplotlib (``tests/test_lesson.py`` checks each module
in a fresh interpreter).

- **The tutorial's facts**: ``spec`` (alphabet, scoring rule, the notebook's defaults),
  ``sequences`` (k-mers, validation, integer codes), ``recipe`` (the split, sampling),
  ``synthetic`` (random and planted-motif sequences), ``dataset`` (what a run trains on).
- **Models and settings**: ``registry`` (the one table of models, their tensors' layouts
  and sizes), ``config`` (``RunConfig``, every setting declared with its flag),
  ``options`` (how an option is declared and range-checked), ``schedule`` (learning-rate
  schedules), ``memory`` (what work needs, estimated before it starts).
- **Files**: ``datafiles`` (reading a user's CSV, TSV or FASTA), ``outputs`` (writing
  without losing a user's file: manifests, locks, stages), ``weights`` and ``checkpoint``
  (framework-neutral snapshots), ``provenance`` (versions, commit, machine).
- **Results and interpretation**: ``results`` (what a port returns), ``metrics``,
  ``insertion`` (motif insertion against the planted truth), ``pwm`` (PWMs and MEME
  files), ``tomtom`` and ``jaspar`` (matching filters to known motifs).
- ``errors``: the errors a user can fix (one line, exit 2).
- ``app/``: the application on top of the ports (CLI, pipeline, predict, explain, report).
"""
