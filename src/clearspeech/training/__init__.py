"""Training: the train stage's loop over the feature store.

``trainer`` runs one loop (schedule, validation, early stopping, atomic resumable checkpoints)
for every architecture; what a step and a validation loss are is the task its architecture
declares: ``tasks`` (spectral, own loss) or ``adversarial`` (the waveform GAN). ``frontend``
chooses the data by the architecture's front end (stored spectra, its own STFT of waveform crops,
or the waveforms) and ``batches`` cuts the random training and central validation crops.
"""
