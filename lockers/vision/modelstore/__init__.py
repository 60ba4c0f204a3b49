"""The model store: every model file the kiosk runs on, fetched, verified and recorded one way.

- :mod:`.fetch`: HTTP download with resume into ``<file>.part``, atomic copy and rename.
- :mod:`.manifest`: ``manifest.json`` per models folder (SHA-256, size, source, version).
- :mod:`.statedict`: safe ``torch.load`` and the key/shape/dtype/finite checks.
- :mod:`.facenet`: the embedding network (InceptionResnetV1, optional GroupFace block);
  :mod:`.facenet_arch`: what its state_dict must hold.
- :mod:`.antispoof`: the passive presentation-attack models (MiniFASNetV2, MiniFASNetV1SE).

A file replaces a good one only after it passed its kind's checks; one that fails is kept as
``<file>.rejected``. torch and requests are imported inside the functions that need them, so
importing the store is cheap. The embedding API is re-exported here (and from the older
:mod:`lockers.vision.weights`).
"""

from lockers.vision.modelstore.facenet import (
    GROUPFACE_ARCHITECTURE,
    GROUPFACE_PREFIX,
    LOGITS_PREFIX,
    PLAIN_ARCHITECTURE,
    LoadedWeights,
    architecture_of,
    default_model_version,
    download_weights,
    expected_architecture,
    has_groupface_block,
    import_weights,
    load_weights,
    resolve_weights,
    verify_state_dict,
)
from lockers.vision.modelstore.fetch import ProgressCallback, sha256_of
from lockers.vision.modelstore.manifest import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    ManifestEntry,
    manifest_path,
    read_manifest,
)

__all__ = [
    "GROUPFACE_ARCHITECTURE",
    "GROUPFACE_PREFIX",
    "LOGITS_PREFIX",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "PLAIN_ARCHITECTURE",
    "LoadedWeights",
    "ManifestEntry",
    "ProgressCallback",
    "architecture_of",
    "default_model_version",
    "download_weights",
    "expected_architecture",
    "has_groupface_block",
    "import_weights",
    "load_weights",
    "manifest_path",
    "read_manifest",
    "resolve_weights",
    "sha256_of",
    "verify_state_dict",
]
