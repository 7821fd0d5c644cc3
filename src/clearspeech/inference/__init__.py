"""Inference: a trained checkpoint on anyone's audio.

``enhancer`` turns a checkpoint into waveform-in, waveform-out enhancement; ``chunking`` keeps
memory bounded on long signals; ``streaming`` runs causal models frame by frame; ``files`` and
``paths`` enhance users' files of any format (what ``clearspeech enhance`` does); ``export``
writes ONNX. Nothing here imports training.
"""
