"""The application: the command line and what it runs, on top of both ports.

``cli`` (``dna-tutorial run | predict | explain | parity | bench | reproduce``, its
options generated from ``RunConfig``'s declarations), ``pipeline`` (``run``: checks,
locks, each port's driver, the report), ``predict`` and ``explain`` (a checkpointed
model's predictions and attributions), ``report`` and ``plots`` (the HTML report and its
figures), ``notebook`` (helpers the notebooks use to show the package's own source),
``stop`` (SIGTERM and SIGHUP handled as Ctrl-C).
"""
