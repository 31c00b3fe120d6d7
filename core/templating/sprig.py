"""The function map acb renders task files with: Go builtins, then Sprig v2.22 over them.

Sprig's `slice` replaces Go's builtin `slice`, as in acb (Go looks up a template's own functions
before its builtins). A few Sprig functions are deliberately absent: those that reach the network
or the file system (`getHostByName`), generate keys and certificates (`genCA`, `genPrivateKey`,
...), or need Go libraries without a small stdlib equivalent (`semver`, `merge`, `toDate`, ...).
Using one gives a parse error that says so.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.templating.builtins import builtin_functions
from core.templating.funcs import GoFunction
from core.templating.sprig_env import Environment
from core.templating.sprig_lists import list_functions
from core.templating.sprig_misc import misc_functions
from core.templating.sprig_strings import string_functions

UNSUPPORTED_SPRIG = frozenset(
    {
        "ago", "bcrypt", "buildCustomCert", "date_modify", "dateModify", "decryptAES", "deepCopy",
        "derivePassword", "duration", "durationRound", "encryptAES", "genCA", "genCAWithKey",
        "genPrivateKey", "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert",
        "genSignedCertWithKey", "getHostByName", "htpasswd", "merge", "mergeOverwrite",
        "must_date_modify", "mustDateModify", "mustToDate", "osBase", "osClean", "osDir", "osExt",
        "osIsAbs", "randBytes", "randInt", "semver", "semverCompare", "seq", "shuffle", "toDate",
        "toDecimal", "urlJoin", "urlParse", "wrap", "wrapWith", "abbrevboth", "addf", "add1f",
        "subf", "mulf", "divf", "maxf", "minf",
    }
)  # fmt: skip


def default_functions(env: Environment | None = None) -> dict[str, GoFunction]:
    """Every function a task file can call, by name."""
    env = env or Environment()
    functions: dict[str, GoFunction] = dict(builtin_functions())
    parts: list[Mapping[str, GoFunction]] = [string_functions(), list_functions(), misc_functions(env)]
    for part in parts:
        functions.update(part)
    return functions
