"""Building blocks of self-contained HTML reports: every image and sound is a ``data:`` URI, so
a report opens from disk, from an MLflow artifact or from an e-mail, with no server and no network.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from clearspeech.core.files import write_text_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; } h3 { margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .88rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #555; font-size: .9rem; }
.players { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: .5rem; }
.players figure { margin: 0; } .players figcaption { font-weight: 600; }
audio { width: 100%; } .wide { overflow-x: auto; }
"""


def data_uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def wav_uri(signal: np.ndarray, rate: int) -> str:
    """Mono float ``(samples,)`` as a 16-bit WAV data URI (every browser plays it); an overshoot
    beyond full scale is clipped, as any player would."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(signal, dtype=np.float32), -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    return data_uri("audio/wav", buffer.getvalue())


def figure_uri(draw: Callable[[Path], None]) -> str:
    """PNG data URI of the figure that ``draw(path)`` saves (the plots module's functions)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.png"
        draw(path)
        return data_uri("image/png", path.read_bytes())


def image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def players(signals: Mapping[str, np.ndarray], rate: int) -> str:
    """One ``<audio>`` player per named signal, side by side."""
    cells = "".join(f'<figure><figcaption>{html.escape(name)}</figcaption>'
                    f'<audio controls preload="metadata" src="{wav_uri(signal, rate)}"></audio></figure>'
                    for name, signal in signals.items())
    return f'<div class="players">{cells}</div>'


def table(frame: pd.DataFrame, index: bool = True, float_format: str = "{:.3f}") -> str:
    """``frame`` as an HTML table; floats formatted, NaN shown as a dash."""
    markup = frame.to_html(index=index, na_rep="–", border=0, escape=True,
                           float_format=lambda value: float_format.format(value))
    return f'<div class="wide">{markup}</div>'


def section(title: str, *parts: str, level: int = 2) -> str:
    return f"<section><h{level}>{html.escape(title)}</h{level}>{''.join(parts)}</section>"


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def write_page(dest: str | Path, title: str, sections: Iterable[str]) -> None:
    """A complete HTML document, written atomically (temp file, then rename)."""
    body = "".join(sections)
    document = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
                f'<link rel="icon" href="data:,"><style>{_STYLE}</style></head>'
                f'<body><h1>{html.escape(title)}</h1>{body}</body></html>\n')
    write_text_atomic(Path(dest), document)
