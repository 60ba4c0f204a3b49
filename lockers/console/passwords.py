"""Console passwords (scrypt, like the kiosk PINs) and the random secrets of sessions and tokens.

A password is never stored or logged; session ids and API tokens are 256-bit random values
stored only as their SHA-256 (enough for secrets that cannot be guessed, and fast per request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from lockers.errors import LockersError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
# ~16 MiB and ~50 ms per check: slow for a guesser with a stolen database, fine for a login.
_N, _R, _P = 2**14, 8, 1


class PasswordRefused(LockersError):
    """A console password that does not meet the rules."""


def validate_password(password: str) -> None:
    """Raises: PasswordRefused: shorter than 10 characters, too long, or blank."""
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise PasswordRefused(
            f"a console password needs at least {MIN_PASSWORD_LENGTH} characters",
            hint="use a passphrase of a few words; it is separate from the kiosk PIN",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRefused(
            f"a console password may have at most {MAX_PASSWORD_LENGTH} characters",
            hint="choose a shorter passphrase",
        )


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64 fields), the format of the kiosk's PIN hashes."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a :func:`hash_password` string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode()[: MAX_PASSWORD_LENGTH * 4],
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked for unknown names, so "no such account" takes as long as "wrong password".
DUMMY_HASH = hash_password("not-a-password-0000")


def new_secret() -> str:
    """A fresh random secret (session id, CSRF token, API token): 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """SHA-256 hex of a session id or API token: what the database keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()
