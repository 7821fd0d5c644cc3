"""Core: what every phase stands on and nothing above it.

Audio input/output and resampling (``audio``), atomic file writes and hashing (``files``), the
STFT (``stft``), CSV manifests (``manifest``), frozen config dataclasses from params mappings
(``config``), process pools (``parallel``), the device choice (``device``) and the one
:class:`~clearspeech.core.errors.UserError` base that stages turn into one clear line
(``errors``). Nothing here imports another ``clearspeech`` subpackage.
"""
