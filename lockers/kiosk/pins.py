"""Staff PIN hashing with scrypt (stdlib), keyed with the site's PIN secret. The PIN itself is
never stored or logged.

A 4-to-12-digit PIN space falls to an offline search of a copied database in minutes even with
scrypt; keyed hashes (``scrypt-k1``: scrypt over HMAC-SHA256(secret, PIN)) cannot be searched
without the secret file, which lives beside the template key, outside the database. Hashes made
before the secret (``scrypt``) still verify and are re-keyed at the next successful login.
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
KEYED_SCHEME = "scrypt-k1"
UNKEYED_SCHEME = "scrypt"


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


def hash_pin(pin: str, secret: bytes) -> str:
    """``scrypt-k1$N$r$p$salt$hash`` (base64 fields), keyed with the site's ``secret``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(_material(pin, secret), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"{KEYED_SCHEME}${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str, secret: bytes) -> bool:
    """Constant-time comparison of ``pin`` against a keyed hash, or an unkeyed one made before
    the site had a PIN secret."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme not in (KEYED_SCHEME, UNKEYED_SCHEME):
            return False
        material = _material(pin, secret if scheme == KEYED_SCHEME else None)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            material, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def is_keyed(stored: str) -> bool:
    """Whether ``stored`` was made with a site secret (else: re-key it at the next login)."""
    return stored.startswith(KEYED_SCHEME + "$")


# Checked against unknown names so that "no such staff" takes as long as "wrong PIN".
_DUMMY_SECRET = bytes(32)
DUMMY_HASH = hash_pin("000000", _DUMMY_SECRET)
