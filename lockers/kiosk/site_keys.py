"""The site's secrets: every kiosk of a site holds the same template key (any kiosk recognises
every customer) and the same PIN secret (staff log in at any kiosk).

Neither is ever stored in the database. A kiosk joining a site receives both from a kiosk that
has them: ``lockers site key export FILE`` writes them encrypted under a passphrase (AES-GCM
with a key derived by scrypt), ``lockers site key import FILE`` writes them to this kiosk's
``privacy.template_key_file`` and ``privacy.pin_secret_file``. At start-up a kiosk whose key
cannot open a template another kiosk stored refuses to start (:func:`check_sample`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select

from lockers.errors import LockersError
from lockers.store.crypto import (
    KEY_BYTES,
    PIN_SECRET,
    TemplateCipher,
    TemplateKeyError,
    load_or_create_key,
    load_or_create_secret,
)
from lockers.store.db import Session
from lockers.store.models import FaceTemplate, Rental

FORMAT = "lockers-site-keys/1"
# scrypt cost: 2**15 x 8 x 1 needs 32 MiB and about 0.1 s, per guess at the passphrase.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSPHRASE = 8

Sample = tuple[bytes, str, str]  # ciphertext, model version, kind


class SiteKeysError(LockersError):
    """A site keys file cannot be written, read, or opened with the passphrase."""


def import_hint(other_kiosk: str) -> str:
    return (
        f"every kiosk of a site must hold the same keys: on kiosk {other_kiosk!r} (or any "
        "kiosk of the site) run `lockers site key export FILE`, bring FILE here and run "
        "`lockers site key import FILE`"
    )


def template_samples(session: Session, kiosk_id: str) -> dict[str, Sample]:
    """One stored template of this kiosk's rentals and one of another kiosk's, by kiosk id."""
    samples: dict[str, Sample] = {}
    for mine in (True, False):
        where = Rental.kiosk_id == kiosk_id if mine else Rental.kiosk_id != kiosk_id
        row = session.execute(
            select(Rental.kiosk_id, FaceTemplate.ciphertext, FaceTemplate.model_version)
            .add_columns(FaceTemplate.kind)
            .join(Rental, Rental.id == FaceTemplate.rental_id)
            .where(where)
            .limit(1)
        ).first()
        if row is not None:
            samples[row[0]] = (row[1], row[2], row[3])
    return samples


def check_sample(
    cipher: TemplateCipher, key_file: Path, kiosk_id: str, owner: str, sample: Sample
) -> None:
    """Raises: TemplateKeyError naming ``key_file`` when ``cipher`` cannot open ``sample``."""
    if owner == kiosk_id:
        cipher.decrypt(*sample)  # the message names the key file already
        return
    try:
        cipher.decrypt(*sample)
    except TemplateKeyError:
        raise TemplateKeyError(
            f"this kiosk's template key {key_file} cannot open the face templates kiosk "
            f"{owner!r} stored in the shared database: this kiosk would not recognise the "
            "site's customers, so it does not start",
            hint=import_hint(owner),
        ) from None


@dataclass(frozen=True)
class SiteSecrets:
    template_key: bytes
    pin_secret: bytes


def read_local(template_key_file: Path, pin_secret_file: Path) -> SiteSecrets:
    """This kiosk's two secret files (neither is created here).

    Raises: TemplateKeyError, PinSecretError: missing, unreadable, wrong size or mode.
    """
    return SiteSecrets(
        load_or_create_key(template_key_file, create=False),
        load_or_create_secret(pin_secret_file, PIN_SECRET, create=False),
    )


def _kdf(salt: bytes, passphrase: str) -> bytes:
    scrypt = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return scrypt.derive(passphrase.encode("utf-8"))


def seal(site_secrets: SiteSecrets, passphrase: str) -> bytes:
    """The export file's bytes (JSON; the secrets encrypted under the passphrase)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise SiteKeysError(
            f"the passphrase is shorter than {MIN_PASSPHRASE} characters",
            hint="choose a longer one; whoever holds the file and the passphrase holds the keys",
        )
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    plain = site_secrets.template_key + site_secrets.pin_secret
    sealed = AESGCM(_kdf(salt, passphrase)).encrypt(nonce, plain, FORMAT.encode())
    body = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "sealed": base64.b64encode(sealed).decode(),
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def unseal(data: bytes, passphrase: str, source: Path) -> SiteSecrets:
    """Raises: SiteKeysError: not a site keys file, or the wrong passphrase."""
    try:
        body = json.loads(data)
        if body.get("format") != FORMAT:
            raise ValueError(body.get("format"))
        salt, nonce, sealed = (base64.b64decode(body[k]) for k in ("salt", "nonce", "sealed"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SiteKeysError(
            f"{source} is not a lockers site keys file",
            hint="make it with `lockers site key export FILE` on a kiosk of the site",
        ) from None
    try:
        plain = AESGCM(_kdf(salt, passphrase)).decrypt(nonce, sealed, FORMAT.encode())
    except InvalidTag:
        raise SiteKeysError(
            f"cannot open {source}: wrong passphrase (or the file was altered)",
            hint="use the passphrase given at export",
        ) from None
    if len(plain) != 2 * KEY_BYTES:
        raise SiteKeysError(f"{source} holds secrets of the wrong size")
    return SiteSecrets(plain[:KEY_BYTES], plain[KEY_BYTES:])


def export_keys(path: Path, site_secrets: SiteSecrets, passphrase: str) -> None:
    """Write the sealed secrets to ``path`` (mode 0600; an existing file is not replaced)."""
    _write_private(path, seal(site_secrets, passphrase))


def import_keys(
    path: Path, passphrase: str, template_key_file: Path, pin_secret_file: Path, replace: bool
) -> list[Path]:
    """Write the secrets of export file ``path`` to this kiosk's two files; returns the files
    written (a file that already holds the same secret is left alone).

    Raises:
        SiteKeysError: bad file or passphrase; or a file holding another secret and not
            ``replace`` (templates this kiosk stored with its own key would become unreadable).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SiteKeysError(f"cannot read {path}: {exc.strerror}") from None
    got = unseal(data, passphrase, path)
    written: list[Path] = []
    for target, secret in (
        (template_key_file, got.template_key),
        (pin_secret_file, got.pin_secret),
    ):
        if target.exists() and target.read_bytes() == secret:
            continue
        if target.exists() and not replace:
            raise SiteKeysError(
                f"{target} already holds another secret",
                hint="a kiosk that stored templates or PINs with it would lose them: if this "
                "kiosk is new to the site, run again with --replace (the old file is kept as "
                f"{target.name}.old, or .old.1, ... when that exists)",
            )
        if target.exists():
            _keep_aside(target)
        _write_private(target, secret)
        written.append(target)
    return written


def _keep_aside(target: Path) -> Path:
    """Move ``target`` to the first free ``NAME.old``, ``NAME.old.1``, ...: an earlier backup
    is never overwritten (it may be the only copy of a key that opens stored templates)."""
    backup, n = target.with_name(target.name + ".old"), 0
    while backup.exists():
        n += 1
        backup = target.with_name(f"{target.name}.old.{n}")
    try:
        os.replace(target, backup)
    except OSError as exc:
        raise SiteKeysError(f"cannot move {target} aside to {backup}: {exc.strerror}") from None
    return backup


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600) holding ``data``; never overwrites: a file replaced by
    ``import --replace`` is moved aside first."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileExistsError:
        raise SiteKeysError(f"{path} already exists", hint="choose another file name") from None
    except OSError as exc:
        raise SiteKeysError(f"cannot write {path}: {exc.strerror}") from None
