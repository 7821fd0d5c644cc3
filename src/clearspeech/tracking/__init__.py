"""Tracking: MLflow, the pipeline's side channel (never an input to a DVC out).

``store`` is the only module that talks to MLflow (store location, runs, registry, champion
alias); ``publish`` and ``peers`` say what the train, evaluate and peers stages show there;
``pyfunc_model`` is the registered models-from-code entry point; ``model_source`` resolves
``--model`` values (checkpoint files, ``models:/`` and ``runs:/`` URIs).
"""
