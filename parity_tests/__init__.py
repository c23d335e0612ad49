"""The two ports compared: the same inputs, weights and batch order, quantity by quantity.

``harness`` runs the whole suite (``dna-tutorial parity``); the checks live by what they
compare (``data_checks``, ``model_checks``, ``training_checks``, ``state_checks``) over
``pairs`` (one model in both ports) and ``compare`` (rows, precision, tables), with every
tolerance in ``tolerances`` and the model shapes in ``registry``. ``data_parallel``
compares one device with several; ``report`` writes ``parity-<device>.{json,md}``. The
``test_*.py`` files assert that every row passes.
"""
