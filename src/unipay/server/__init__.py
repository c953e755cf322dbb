"""The sandbox server (``pip install "unipay[server]"``): the REST API the project began as.

    unipay serve                      # http://127.0.0.1:8000/docs
    uvicorn --factory unipay.server:create_app

Only HTTP mapping lives here; payments, validation and idempotency are the gateway's. Importing
this package needs FastAPI; ``import unipay`` never does.
"""

from unipay.server.app import LiveKeyWithoutAuthentication, create_app
from unipay.server.settings import ServerSettings

__all__ = ["LiveKeyWithoutAuthentication", "ServerSettings", "create_app"]
