"""AES-GCM encryption of face templates under a key file kept outside the database.

Stored form: ``b"LT1" || nonce (12 bytes) || ciphertext + tag``. The associated data binds each
blob to its model version and kind, so a blob moved between rows of another kind fails to
decrypt instead of being read as something else.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lockers.errors import StoreError

MAGIC = b"LT1"
NONCE_BYTES = 12
KEY_BYTES = 32


class TemplateKeyError(StoreError):
    """The template key file is missing, unreadable, malformed or not the key of this data."""


def load_or_create_key(path: Path, create: bool = True) -> bytes:
    """Read the 32-byte key at ``path``; create it (mode 0600, atomically) if absent and allowed.

    Raises:
        TemplateKeyError: the file is missing (and ``create`` is false), unreadable, the wrong
            size, or readable by other users.
    """
    return load_or_create_secret(path, _TEMPLATE_KEY, create)


class PinSecretError(StoreError):
    """The staff PIN secret file is missing, unreadable, malformed or readable by others."""


@dataclass(frozen=True)
class SecretFile:
    """What one kind of secret file is called in messages, and how its errors read."""

    what: str
    error: type[StoreError]
    missing_hint: str
    setting: str


_TEMPLATE_KEY = SecretFile(
    "template key file",
    TemplateKeyError,
    "restore the key from its backup; without it the enrolled faces cannot be read (staff can "
    "reset the affected lockers)",
    "privacy.template_key_file",
)
PIN_SECRET = SecretFile(
    "PIN secret file",
    PinSecretError,
    "restore it from the backup of the kiosk's secrets (it lives beside the template key); "
    "without it no staff PIN stored since it was made can be checked",
    "privacy.pin_secret_file",
)


def load_or_create_secret(path: Path, kind: SecretFile, create: bool = True) -> bytes:
    """Read the 32-byte secret at ``path``; create it (mode 0600, atomically) if absent and
    allowed.

    Raises:
        ``kind.error``: the file is missing (and ``create`` is false), unreadable, the wrong
            size, or readable by other users.
    """
    if not path.exists():
        if not create:
            raise kind.error(f"{kind.what} {path} does not exist", hint=kind.missing_hint)
        return _create_secret(path, kind)
    try:
        mode = path.stat().st_mode
        key = path.read_bytes()
    except OSError as exc:
        raise kind.error(
            f"cannot read {kind.what} {path}: {exc.strerror}",
            hint="the kiosk user must own the file (mode 0600)",
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise kind.error(
            f"{kind.what} {path} is readable by other users (mode {mode & 0o777:o})",
            hint=f"run: chmod 600 {path}",
        )
    if len(key) != KEY_BYTES:
        raise kind.error(
            f"{kind.what} {path} holds {len(key)} bytes, expected {KEY_BYTES}",
            hint="restore the original file from its backup",
        )
    return key


def _create_secret(path: Path, kind: SecretFile) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask or a stale .tmp's mode
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() fails if another process created the file meanwhile: then that one wins.
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.unlink(tmp)
            return load_or_create_secret(path, kind, create=False)
        os.unlink(tmp)
    except OSError as exc:
        raise kind.error(
            f"cannot create {kind.what} {path}: {exc.strerror}",
            hint=f"make its directory writable by the kiosk user or set {kind.setting}",
        ) from None
    return key


class TemplateCipher:
    """Encrypts and decrypts float32 embeddings (and opt-in image bytes) with one AES-GCM key."""

    def __init__(self, key: bytes, key_file: Path | None = None) -> None:
        if len(key) != KEY_BYTES:
            raise TemplateKeyError(f"template key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        # Named in the "cannot be decrypted" message: the usual cause is the wrong file.
        self.key_file = key_file

    @classmethod
    def from_file(cls, path: Path, create: bool = True) -> TemplateCipher:
        """The cipher of the key at ``path`` (see :func:`load_or_create_key`)."""
        return cls(load_or_create_key(path, create=create), key_file=path)

    def encrypt(self, data: bytes, model_version: str, kind: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, _aad(model_version, kind))

    def decrypt(self, blob: bytes, model_version: str, kind: str) -> bytes:
        """Raises: TemplateKeyError: the blob was not made by this key (or was altered)."""
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            raise TemplateKeyError("a stored template is not in the encrypted template format")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, blob[len(MAGIC) + NONCE_BYTES :], _aad(model_version, kind)
            )
        except InvalidTag:
            source = "the configured key" if self.key_file is None else f"the key {self.key_file}"
            raise TemplateKeyError(
                f"stored face templates cannot be decrypted with {source}",
                hint="privacy.template_key_file (default: <data_dir>/template.key) must be the "
                "key these templates were made with; point it at that file, restore it from "
                "backup, or have staff reset the affected lockers",
            ) from None

    def encrypt_embedding(self, vector: npt.NDArray[np.float32], model_version: str) -> bytes:
        """``vector``: shape ``(d,)``, stored as little-endian float32."""
        raw = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        return self.encrypt(raw, model_version, "embedding")

    def decrypt_embedding(self, blob: bytes, model_version: str) -> npt.NDArray[np.float32]:
        """The ``(d,)`` float32 vector of :meth:`encrypt_embedding`."""
        raw = self.decrypt(blob, model_version, "embedding")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _aad(model_version: str, kind: str) -> bytes:
    return f"lockers-template|{kind}|{model_version}".encode()
