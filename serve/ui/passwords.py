"""Password hashes for the review UI's accounts: scrypt from the standard library.

Settings hold ``scrypt$N$r$p$salt$hash``, never a password; `needlens review hash-password`
writes one. Verifying costs about 50 ms of CPU on purpose (guessing is slow too), and a name
that has no account costs the same, so timing does not tell which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from serve.settings import UiUser

_N, _R, _P = 2**14, 8, 1
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024
# checked against when a name has no account, so that costs what a wrong password costs
_DECOY = "scrypt$16384$8$1$EwZ4A0uFsDuB9PGL528L_g==$5-xwajklbbDoS3p0MHFPLUMRFSWY06UNoZi8iV3zrVw="


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(_derive(password, salt, _N, _R, _P))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed or over-costly hash never matches."""
    try:
        _, n, r, p, salt, expected = stored.split("$")
        derived = _derive(password, base64.urlsafe_b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(derived, base64.urlsafe_b64decode(expected))
    except (ValueError, MemoryError):  # a bad field, or N/r/p beyond the memory bound
        return False


def authenticate(users: dict[str, UiUser], name: str, password: str) -> UiUser | None:
    """The account ``name`` signs in to with ``password``, or None (the same work either way). A
    blank name is no account even if the settings hold one: it would record labels as nobody."""
    user = users.get(name) if name.strip() else None
    matches = verify_password(password, user.password_hash if user else _DECOY)
    return user if user is not None and matches else None
