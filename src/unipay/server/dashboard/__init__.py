"""The operator dashboard at ``/dashboard``: payments, a payment's timeline, webhook
deliveries, idempotency keys and metrics, from the store the SDK writes; capture, refund, cancel
and reconcile through the gateway when the server has an API key.

Server-rendered HTML (Jinja2) with charts drawn as inline SVG: no script, no build step and
nothing fetched from elsewhere, so it works from ``pip install`` alone and offline
(docs/dashboard.md says why).
"""

from unipay.server.dashboard.retention import purge_activity_periodically
from unipay.server.dashboard.site import create_dashboard

__all__ = ["create_dashboard", "purge_activity_periodically"]
