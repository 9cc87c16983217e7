"""The model store on its own: content addressing, shared blobs, atomic manifests, the
index, digest validation and `prune`, with the real SmolLM2 GGUF."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fireside.engine.errors import InvalidRequest, ModelNotFound
from fireside.models import manifest as media
from fireside.models.download import DigestMismatch
from fireside.models.manifest import Manifest, parse_digest
from fireside.models.store import ModelStore


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


@pytest.fixture
def weights(tmp_path: Path, smollm2_path: Path) -> Path:
    """A private copy of the SmolLM2 GGUF on the store's filesystem."""
    copy = tmp_path / "SmolLM2.gguf"
    copy.write_bytes(smollm2_path.read_bytes())
    return copy


def _model(store: ModelStore, weights: Path, name: str, system: str | None = None) -> Manifest:
    layers = [store.import_file(weights, media.MODEL)]
    if system is not None:
        layers.append(store.add_bytes(media.SYSTEM, system.encode()))
    manifest = Manifest(tuple(layers), str(weights))
    store.put(name, manifest)
    return manifest


def test_import_hard_links_a_file_on_the_same_filesystem(store: ModelStore, weights: Path) -> None:
    manifest = _model(store, weights, "smol:a")
    blob = store.blob_path(manifest.weights.digest)
    assert blob.stat().st_ino == weights.stat().st_ino  # one copy of the bytes, two names
    assert manifest.weights.digest == "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def test_two_names_share_one_blob_and_rm_keeps_the_other(store: ModelStore, weights: Path) -> None:
    a = _model(store, weights, "smol:a", system="You are A.")
    store.copy("smol:a", "smol:b")
    assert store.references()[a.weights.digest] == 2
    assert len(list((store.root / "blobs").iterdir())) == 2  # weights + system, once each
    store.remove("smol:a")
    with pytest.raises(ModelNotFound, match='model "smol:a" not found, try pulling it first'):
        store.get("smol:a")
    b = store.get("smol:b")
    assert store.blob_path(b.weights.digest).is_file()
    assert [m.name for m in store.models()] == ["smol:b"]


def test_prune_deletes_only_what_no_model_uses(store: ModelStore, weights: Path) -> None:
    kept = _model(store, weights, "smol:kept", system="kept")
    orphan = store.add_bytes(media.SYSTEM, b"nobody uses this")
    (store.root / "partials" / "sha256-abc.partial").write_bytes(b"x" * 10)
    (store.root / "blobs" / ".incoming.tmp-1-2").write_bytes(b"left by a kill -9")
    pruned = store.prune()
    assert (pruned.blobs, pruned.partials) == (1, 1)
    assert pruned.bytes == len(b"nobody uses this") + 10 + len(b"left by a kill -9")
    assert not store.blob_path(orphan.digest).exists()
    assert all(store.blob_path(d).is_file() for d in kept.digests)
    assert store.prune().bytes == 0


def test_the_index_follows_manifests_changed_behind_its_back(store: ModelStore, weights: Path) -> None:
    _model(store, weights, "smol:a")
    assert [m.name for m in store.models()] == ["smol:a"]
    # Another process (or a crash between the manifest and the index) changed the manifests.
    (store.root / "manifests" / "smol" / "a.json").rename(store.root / "manifests" / "smol" / "c.json")
    assert [m.name for m in store.models()] == ["smol:c"]
    (store.root / "manifests" / "smol" / "bad.json").write_text("{not json")
    assert [m.name for m in store.models()] == ["smol:c"]  # a broken manifest is skipped, not fatal


def test_digests_are_validated_where_they_are_parsed(store: ModelStore) -> None:
    for bad in ("sha256:../../../../etc/passwd", "sha256:" + "A" * 64, "md5:" + "0" * 64, "sha256:" + "0" * 63, "", None):
        with pytest.raises(InvalidRequest, match="invalid digest"):
            parse_digest(bad)
    with pytest.raises(InvalidRequest, match="invalid digest"):
        store.blob_path("sha256-../../index.sqlite")
    layer = {"mediaType": media.MODEL, "digest": "sha256:../../../secret", "size": 1}
    data = json.dumps({"schemaVersion": 2, "mediaType": media.MANIFEST_TYPE, "layers": [layer]}).encode()
    with pytest.raises(InvalidRequest, match="not a valid manifest"):
        Manifest.parse(data, "manifests/x/y.json")


def test_names_cannot_escape_the_store(store: ModelStore) -> None:
    for bad in ("../evil:latest", "a/../../b", "/abs:tag", "x:../y"):
        with pytest.raises(InvalidRequest, match="invalid model name"):
            store.get(bad)


def test_a_manifest_needs_its_layers_in_the_store(store: ModelStore) -> None:
    missing = Manifest((media.Layer(media.MODEL, "sha256:" + "0" * 64, 5),))
    with pytest.raises(InvalidRequest, match="is not in the store"):
        store.put("ghost:latest", missing)
    assert store.models() == []


def test_a_wrong_digest_stores_nothing(store: ModelStore, weights: Path) -> None:
    with pytest.raises(DigestMismatch):
        store.import_file(weights, media.MODEL, "sha256:" + "0" * 64)
    with store.writer(media.MODEL, "sha256:" + "1" * 64) as blob:
        blob.write(b"GGUF not really")
        with pytest.raises(DigestMismatch):
            blob.commit()
    assert list((store.root / "blobs").iterdir()) == []


def test_manifest_writes_are_atomic(store: ModelStore, weights: Path) -> None:
    _model(store, weights, "smol:a")
    leftovers = [p for p in (store.root / "manifests").rglob("*") if p.is_file() and not p.name.endswith(".json")]
    assert leftovers == []
    assert os.stat(store.root / "manifests" / "smol" / "a.json").st_size > 0
