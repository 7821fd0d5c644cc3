"""The ``clearspeech`` command line: ``app`` (the group, ``check-corpus``, ``mix``), ``enhance``
(``enhance`` and ``export``) and ``peers``. The pipeline itself runs through ``dvc repro``."""
