"""The server's settings, read from the environment and a ``.env`` file, as the sandbox did.

Only the server's own settings live here. Provider settings belong to their plugins: the server
gathers every variable from the environment and ``.env`` (plus any passed in code as
``provider_settings``) and hands them to each plugin's ``unipay_configure_provider`` hook, which
reads its own names. The server never names a provider's variable and never writes
``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import Field, PositiveFloat, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The sandbox's default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///unipay.db"
ENV_FILE = ".env"


class ServerSettings(BaseSettings):
    """``DATABASE_URL``, the API key, request limits, the activity log, and provider settings
    passed in code; the environment wins over ``.env``.

    Every secret is a ``SecretStr`` (the database URL too, since it may hold a password), so
    ``repr``, ``str`` and ``model_dump()`` show none of them; ``.get_secret_value()`` reads one.
    """

    model_config = SettingsConfigDict(env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore")

    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL),
        description="Where idempotency keys, payments and refunds are kept (SQLAlchemy URL, "
        "e.g. postgresql+psycopg://user:password@host/db), or memory://.",
    )
    unipay_api_key: SecretStr | None = Field(
        None,
        description="When set, every route but /health, /webhooks/* and the docs needs "
        "`Authorization: Bearer <key>`. Required when a provider runs with a live key.",
    )
    unipay_max_body_bytes: PositiveInt = Field(
        1024 * 1024,
        description="Larger request bodies are refused with 413 before they are read.",
    )
    unipay_body_timeout: PositiveFloat = Field(
        10.0,
        description="Seconds a client has to send its whole request body; slower is a 408.",
    )
    unipay_record_activity: bool = Field(
        True,
        description="Log every operation and webhook delivery to the store: the dashboard's "
        "timelines, webhook list and metrics are made of it.",
    )
    unipay_activity_retention_days: PositiveInt = Field(
        30,
        description="Activity log entries older than this many days are purged (at start, "
        "then hourly); keep it longer than the widest metrics window (30 days).",
    )
    provider_settings: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Provider variables passed in code (e.g. {'ACME_API_KEY': ...}); they "
        "win over the environment and .env. Each plugin reads its own.",
    )

    def database_url_shown(self) -> str:
        """The database URL with its password masked, for banners and logs."""
        from sqlalchemy.engine import make_url

        url = self.database_url.get_secret_value()
        try:
            return make_url(url).render_as_string(hide_password=True)
        except Exception:  # not a SQLAlchemy URL (memory://, a plugin's redis://...)
            return url.split("@")[-1] if "@" in url else url

    def state_path(self) -> str | None:
        """The store's file when it is a SQLite file, else None: where a provider with state
        of its own (the mock's books) keeps it, so it lives as long as the store does."""
        from sqlalchemy.engine import make_url

        url = self.database_url.get_secret_value()
        try:
            parsed = make_url(url)
        except Exception:
            return None
        database = parsed.database
        if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
            return None
        return str(Path(database).resolve())

    def provider_values(self) -> dict[str, str]:
        """What the plugins read their settings from: ``.env``, then the environment over it,
        then ``provider_settings`` over both."""
        env_file = self.model_config.get("env_file")
        values: dict[str, Any] = {}
        if isinstance(env_file, str | Path) and Path(env_file).is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ)
        values.update({k: v.get_secret_value() for k, v in self.provider_settings.items()})
        return {name: value for name, value in values.items() if isinstance(value, str)}
