"""Training: the train stage's loop over the feature store.

``trainer`` runs one loop (optimiser, schedule, validation, early stopping, atomic resumable
checkpoints); ``adversarial`` is the task of the waveform GAN; ``batches`` and ``frontend`` cut
random training crops, from stored spectra or from waveforms through a model's own front end.
"""
