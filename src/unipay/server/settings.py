"""The server's settings, read from the environment and a ``.env`` file, as the sandbox did.

Providers configure themselves from the environment (``from_env``), so the server's only job with
their settings is to make values that came from ``.env`` (or from code) visible there: see
:meth:`ServerSettings.export_provider_environment`. The core never learns which provider a
variable belongs to; this module names the Stripe and mock variables because the sandbox did.
"""

from __future__ import annotations

import os

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The sandbox's default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///unipay.db"


class ServerSettings(BaseSettings):
    """``DATABASE_URL`` and the provider settings; the environment wins over ``.env``.

    Secrets are ``SecretStr`` and the database URL (it may hold a password) is left out of the
    repr, so printing or logging the settings shows none of them.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        repr=False,
        description="Where idempotency keys, payments and refunds are kept (SQLAlchemy URL, "
        "e.g. postgresql+psycopg://user:password@host/db), or memory://.",
    )
    stripe_secret_key: SecretStr | None = Field(
        None, description="Stripe test-mode secret key (sk_test_...); unset disables Stripe."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="Stripe endpoint signing secret(s) (whsec_...), comma-separated."
    )
    unipay_mock_webhook_secret: SecretStr | None = Field(
        None, description="The mock's webhook signing secret(s); unset uses its public test one."
    )
    unipay_mock_ledger: str | None = Field(
        None, description="SQLite file for the mock's own books, so restarts keep its payments."
    )

    def provider_environment(self) -> dict[str, str]:
        """The provider variables that are set, by environment variable name."""
        values = {
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "UNIPAY_MOCK_WEBHOOK_SECRET": self.unipay_mock_webhook_secret,
            "UNIPAY_MOCK_LEDGER": self.unipay_mock_ledger,
        }
        return {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in values.items()
            if value is not None
        }

    def export_provider_environment(self) -> None:
        """Put the provider variables where the provider plugins read them: ``os.environ``."""
        os.environ.update(self.provider_environment())
