from collections.abc import Mapping, Sequence

import pytest

from core.keyvault import SecretFailure, SecretResolutionError
from core.registry_credentials import RegistryCredential
from core.task_identities import AssignedIdentityResolver, check_credentials
from core.taskfile import SecretSpec

CLIENT = "11111111-2222-3333-4444-555555555555"
VAULT = "https://vault.example/secrets/pw"


class Recording:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve_secrets(self, specs: Sequence[SecretSpec]) -> Mapping[str, str]:
        self.asked += [s.id for s in specs]
        return {s.id: "value" for s in specs}


def test_a_task_without_assigned_identities_may_use_any() -> None:
    inner = Recording()
    resolver = AssignedIdentityResolver(inner, "app", ())
    assert resolver.resolve_secrets([SecretSpec("a", VAULT), SecretSpec("b", VAULT, CLIENT)]) == {
        "a": "value",
        "b": "value",
    }


def test_assigned_identities_are_the_only_ones_a_task_file_may_use() -> None:
    inner = Recording()
    resolver = AssignedIdentityResolver(inner, "app", (CLIENT.upper(),))
    assert resolver.resolve_secrets([SecretSpec("b", VAULT, CLIENT)]) == {"b": "value"}  # case does not matter
    with pytest.raises(SecretResolutionError) as refused:
        resolver.resolve_secrets([SecretSpec("b", VAULT, CLIENT), SecretSpec("a", VAULT)])
    assert refused.value.reason is SecretFailure.IDENTITY_NOT_ASSIGNED
    assert "secret 'a' uses the system-assigned identity, which is not assigned to task 'app'" in refused.value.message
    assert "--assign-identity [system]" in refused.value.message
    assert inner.asked == ["b"]  # nothing was read for the refused request


def test_system_assigned_identity_allows_secrets_without_a_client_id() -> None:
    resolver = AssignedIdentityResolver(Recording(), "app", ("[System]",))
    assert resolver.resolve_secrets([SecretSpec("a", VAULT)]) == {"a": "value"}
    with pytest.raises(SecretResolutionError, match=f"user-assigned identity {CLIENT}"):
        resolver.resolve_secrets([SecretSpec("b", VAULT, CLIENT)])


def test_registry_credentials_that_read_key_vault_or_use_an_identity_are_checked() -> None:
    plain = RegistryCredential("reg.example", "user", "password")
    vaulted = RegistryCredential("vault.example", "user", VAULT)
    by_identity = RegistryCredential("mi.example", identity=CLIENT)
    check_credentials("app", ("[system]",), [plain, vaulted])
    with pytest.raises(SecretResolutionError, match=r"registry credential for mi\.example"):
        check_credentials("app", ("[system]",), [plain, by_identity])
    check_credentials("app", (), [plain, vaulted, by_identity])
