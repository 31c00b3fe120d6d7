"""htpasswd files for a registry with basic auth, hashed with bcrypt by the system's libcrypt.

libxcrypt is part of every Debian, so no Python package is needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping
from pathlib import Path


def bcrypt_hash(password: str, *, cost: int = 5) -> str:
    """`$2y$…` bcrypt hash of `password` (what `htpasswd -B` writes), made by the system's libcrypt."""
    library = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    library.crypt_gensalt_rn.restype = ctypes.c_char_p
    library.crypt_gensalt_rn.argtypes = [
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    library.crypt_rn.restype = ctypes.c_char_p
    library.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    random_bytes = os.urandom(16)
    setting_buffer = ctypes.create_string_buffer(128)
    setting = library.crypt_gensalt_rn(b"$2y$", cost, random_bytes, len(random_bytes), setting_buffer, 128)
    work = ctypes.create_string_buffer(1 << 16)  # larger than libxcrypt's struct crypt_data
    hashed = setting and library.crypt_rn(password.encode(), setting, work, len(work))
    if not hashed or not hashed.startswith(b"$2y$"):
        raise RuntimeError("this system's libcrypt cannot make bcrypt hashes; install the 'bcrypt' package instead")
    return str(hashed.decode("ascii"))


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{user}:{bcrypt_hash(password)}\n" for user, password in users.items()))
    return path
