"""Peers: denoisers people install instead, run on evaluate's test mixtures and scored alike.

``PEERS`` maps a peer's name to its adapter, ``"module:Class"`` (a :class:`~.base.Peer`). The
adapters import their libraries only when built, so the core install never needs the
``peers`` extra; :func:`load_peer` builds one.
"""

from __future__ import annotations

import importlib

from clearspeech.peers.base import Peer, PeerUnavailable

PEERS = {
    "deepfilternet3": "clearspeech.peers.neural:DeepFilterNet3",
    "nsnet2": "clearspeech.peers.neural:NSNet2",
    "dtln": "clearspeech.peers.neural:DTLN",
    "gtcrn": "clearspeech.peers.neural:GTCRN",
    "rnnoise": "clearspeech.peers.neural:RNNoise",
    "webrtc_ns": "clearspeech.peers.classic:WebRtcNS",
    "speex_ns": "clearspeech.peers.classic:SpeexNS",
    "logmmse_pkg": "clearspeech.peers.classic:LogMmsePackage",
    "noisereduce": "clearspeech.peers.classic:NoiseReduce",
}

__all__ = ["PEERS", "Peer", "PeerUnavailable", "adapter_spec", "load_peer"]


def adapter_spec(name: str) -> str:
    """``"module:Class"`` of peer ``name``; ``ValueError`` listing the known peers otherwise."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; known peers are {sorted(PEERS)}")
    return PEERS[name]


def load_peer(spec: str) -> Peer:
    """Build the adapter ``"module:Class"`` (raises :class:`PeerUnavailable` if not installed)."""
    module, _, cls = spec.partition(":")
    return getattr(importlib.import_module(module), cls)()
