"""ClearSpeech: speech enhancement pipeline library."""
