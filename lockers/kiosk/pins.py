"""Staff PIN hashing with scrypt (stdlib), keyed with the site's PIN secret. The PIN itself is
never stored or logged.

A 4-to-12-digit PIN space falls to an offline search of a copied database in minutes even with
scrypt; keyed hashes (``scrypt-k1``: scrypt over HMAC-SHA256(secret, PIN)) cannot be searched
without the secret file, which lives beside the template key, outside the database. Hashes made
before the secret (``scrypt``) still verify and are re-keyed at the next successful login.

``scrypt-k2`` hashes also name the secret they were keyed with (:func:`secret_id`: 9 bytes of
HMAC-SHA256(secret, a fixed label), which tells nothing about the secret), so a kiosk holding
another secret than the site's is refused at start-up instead of failing every staff login.
``scrypt-k1`` hashes (no id) still verify and are re-hashed as ``k2`` at the next login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from lockers.kiosk.errors import StaffAuthError

# ~16 MiB and ~50 ms per check: slow for a guesser with a stolen database, fine at a kiosk.
_N, _R, _P = 2**14, 8, 1
MIN_PIN_DIGITS, MAX_PIN_DIGITS = 4, 12
KEYED_SCHEME = "scrypt-k2"  # keyed, with the secret's id
KEYED_V1_SCHEME = "scrypt-k1"  # keyed, no id (re-hashed at the next login)
KEYED_FAMILY = "scrypt-k"  # the prefix every keyed scheme starts with
UNKEYED_SCHEME = "scrypt"
_SECRET_ID_LABEL = b"lockers pin secret id"


def validate_pin(pin: str) -> None:
    """Raises: StaffAuthError: the PIN is not 4 to 12 digits."""
    if not (pin.isdigit() and pin.isascii() and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise StaffAuthError(
            f"a PIN must be {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits",
            hint="choose a PIN of digits only, e.g. 6 digits",
        )


def _material(pin: str, secret: bytes | None) -> bytes:
    if secret is None:
        return pin.encode()
    return hmac.new(secret, pin.encode(), hashlib.sha256).digest()


def secret_id(secret: bytes) -> str:
    """A short public name of ``secret`` (12 characters, no ``$``)."""
    mac = hmac.new(secret, _SECRET_ID_LABEL, hashlib.sha256).digest()[:9]
    return base64.urlsafe_b64encode(mac).decode()


def secret_id_of(stored: str) -> str | None:
    """The :func:`secret_id` a ``scrypt-k2`` hash names (``None`` for older schemes)."""
    fields = stored.split("$")
    return fields[1] if fields[0] == KEYED_SCHEME and len(fields) == 7 else None


def hash_pin(pin: str, secret: bytes) -> str:
    """``scrypt-k2$id$N$r$p$salt$hash`` (base64 fields), keyed with the site's ``secret``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(_material(pin, secret), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    head = f"{KEYED_SCHEME}${secret_id(secret)}${_N}${_R}${_P}"
    return f"{head}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str, secret: bytes) -> bool:
    """Constant-time comparison of ``pin`` against a keyed hash, or an unkeyed one made before
    the site had a PIN secret."""
    try:
        fields = stored.split("$")
        if fields[0] == KEYED_SCHEME:
            del fields[1]  # the secret's id: the digest decides
        scheme, n, r, p, salt, digest = fields
        if scheme not in (KEYED_SCHEME, KEYED_V1_SCHEME, UNKEYED_SCHEME):
            return False
        material = _material(pin, None if scheme == UNKEYED_SCHEME else secret)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            material, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def is_keyed(stored: str) -> bool:
    """Whether ``stored`` is a current keyed hash (else: re-hash it at the next login)."""
    return stored.startswith(KEYED_SCHEME + "$")


# Checked against unknown names so that "no such staff" takes as long as "wrong PIN".
_DUMMY_SECRET = bytes(32)
DUMMY_HASH = hash_pin("000000", _DUMMY_SECRET)
