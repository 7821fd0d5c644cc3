"""Data: from corpora to the feature store, one module per pipeline step.

``download`` is the download stage (official archives through ``fetch`` and ``archives``, a local
copy, or the generated ``demo`` corpus); ``split`` picks and divides utterances; ``mixing`` is the
one SNR definition that ``synthesize`` (every mixture to disk) uses; ``features`` writes the
memory-mapped STFT store with train-only statistics. Raw data is never modified; every step
hands the next a manifest.
"""
