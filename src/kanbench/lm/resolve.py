"""Find the GGUF model for ``generate(backend="lm")``.

Usage::

    >>> from kanbench.lm.resolve import HubModel, resolve_model
    >>> resolve_model(dataset="digits").path          # the bundled model
    >>> resolve_model("my-model.gguf", dataset="digits")
    >>> pinned = HubModel("org/kanbench-digits", "digits.Q4_K_M.gguf", revision="<40-hex commit>", sha256="<hex>")
    >>> resolve_model(pinned, dataset="digits")       # downloaded once, then read from the cache

The first step that applies wins:

1. ``model``: an explicit path (which must exist), or a :class:`HubModel`;
2. the environment variable ``KANBENCH_LM_MODEL``, a path;
3. :data:`PUBLISHED_MODELS`: a pinned hub download for the dataset;
4. the model bundled in the package for the dataset.

Hub downloads go through huggingface_hub's cache, at a pinned commit, and
the file's SHA-256 is checked before it is used.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kanbench.errors import KANBenchError, ModelNotFoundError
from kanbench.lm.dependencies import import_optional

MODEL_ENV = "KANBENCH_LM_MODEL"

BUNDLED_MODELS: dict[str, str] = {"digits": "digits-small-v1.Q8_0.gguf"}
"""Dataset -> file name of the model shipped in ``kanbench/data/models``."""


@dataclass(frozen=True, slots=True)
class HubModel:
    """A GGUF file on the Hugging Face hub, pinned to a commit and a SHA-256.

    ``endpoint`` is the hub's URL; huggingface_hub's default
    (https://huggingface.co, or ``HF_ENDPOINT``) when None.
    """

    repo_id: str
    filename: str
    revision: str
    sha256: str
    endpoint: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{40}", self.revision):
            raise ValueError(
                f"revision {self.revision!r} is not a 40-character commit hash; pin a commit so that the "
                "download cannot change under you"
            )
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"sha256 {self.sha256!r} is not 64 lowercase hex characters")


PUBLISHED_MODELS: dict[str, HubModel] = {}
"""Dataset -> pinned hub model that :func:`resolve_model` downloads. NOTE: none is published yet."""


class ModelChecksumError(KANBenchError, ValueError):
    """A downloaded model file does not have the pinned SHA-256."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model file and the resolution step that found it (``argument``, ``environment``, ``hub``, ``bundled``)."""

    path: Path
    source: str


def resolve_model(
    model: str | os.PathLike | HubModel | None = None, *, dataset: str, cache_dir: str | os.PathLike | None = None
) -> ResolvedModel:
    """Find the model file for ``dataset``; see the module docstring for the order.

    Args:
        model: an explicit path or pinned hub file; skips the other steps.
        dataset: the dataset the model must answer for.
        cache_dir: huggingface_hub's cache directory for downloads.

    Raises:
        FileNotFoundError: an explicit or environment path does not exist.
        ModelNotFoundError: no step finds a model for ``dataset``.
        ModelChecksumError: a download does not have the pinned SHA-256.
        ImportError: a download is needed and huggingface_hub is missing.
    """
    if isinstance(model, HubModel):
        return ResolvedModel(download_model(model, cache_dir=cache_dir), "hub")
    if model is not None:
        return ResolvedModel(_existing(Path(model), "the model argument"), "argument")

    from_environment = os.environ.get(MODEL_ENV)
    if from_environment:
        return ResolvedModel(_existing(Path(from_environment), f"${MODEL_ENV}"), "environment")

    published = PUBLISHED_MODELS.get(dataset)
    if published is not None:
        return ResolvedModel(download_model(published, cache_dir=cache_dir), "hub")

    bundled = bundled_model_path(dataset)
    if bundled is not None:
        return ResolvedModel(bundled, "bundled")

    raise ModelNotFoundError(
        f"no language model for dataset {dataset!r}: none was passed, ${MODEL_ENV} is not set, and kanbench "
        f"publishes and bundles models only for {', '.join(sorted({*BUNDLED_MODELS, *PUBLISHED_MODELS})) or 'no dataset'}. "
        "Train one with `kanbench lm train` and pass model=PATH."
    )


def bundled_model_path(dataset: str) -> Path | None:
    """Return the model file shipped in the package for ``dataset``, or None."""
    name = BUNDLED_MODELS.get(dataset)
    if name is None:
        return None
    path = Path(str(resources.files("kanbench") / "data" / "models" / name))
    return path if path.is_file() else None


def download_model(hub: HubModel, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download a pinned hub file (or reuse the cached copy) and check its SHA-256.

    Raises:
        ModelChecksumError: the file's SHA-256 differs from ``hub.sha256``.
        ImportError: huggingface_hub is missing.
    """
    huggingface_hub = import_optional(
        "huggingface_hub", purpose="downloading a model", install="pip install 'kanbench[llm]'"
    )
    path = Path(
        huggingface_hub.hf_hub_download(
            repo_id=hub.repo_id,
            filename=hub.filename,
            revision=hub.revision,
            endpoint=hub.endpoint,
            cache_dir=cache_dir,
        )
    )
    actual = file_sha256(path)
    if actual != hub.sha256:
        raise ModelChecksumError(
            f"{hub.repo_id}/{hub.filename} at {hub.revision} has SHA-256 {actual}, but {hub.sha256} was pinned; "
            f"the cached file {str(path)!r} is damaged or the pin is wrong. Delete the file and download again, "
            "or correct the pin."
        )
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _existing(path: Path, where: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} from {where} does not exist")
    return path
