"""Staff PIN hashing with scrypt (stdlib). The PIN itself is never stored or logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from lockers.kiosk.errors import StaffAuthError

# ~16 MiB and ~50 ms per check: slow for a guesser with a stolen database, fine at a kiosk.
_N, _R, _P = 2**14, 8, 1
MIN_PIN_DIGITS, MAX_PIN_DIGITS = 4, 12


def validate_pin(pin: str) -> None:
    """Raises: StaffAuthError: the PIN is not 4 to 12 digits."""
    if not (pin.isdigit() and pin.isascii() and MIN_PIN_DIGITS <= len(pin) <= MAX_PIN_DIGITS):
        raise StaffAuthError(
            f"a PIN must be {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits",
            hint="choose a PIN of digits only, e.g. 6 digits",
        )


def hash_pin(pin: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64 fields)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time comparison of ``pin`` against a :func:`hash_pin` string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked against unknown names so that "no such staff" takes as long as "wrong PIN".
DUMMY_HASH = hash_pin("000000")
