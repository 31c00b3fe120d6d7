"""Slipway's core: everything that is not a Functions binding or a user interface.

Modules import no Azure Functions types. Adapters to Azure Storage, the Docker engine, Key Vault and
git each live in one module and translate their SDK's errors into `core.errors`.
"""
