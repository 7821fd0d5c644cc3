"""Evaluation: scoring enhanced speech against its clean reference.

``metrics`` (PESQ, STOI, ESTOI, SI-SDR, with error codes kept out of means), ``logmmse`` (the
classical baseline), ``summary`` (means with confidence intervals, paired gains, per-condition
tables), ``plots`` (figures as PNG) and ``evaluate`` (the evaluate stage).
"""
