"""The activity log's retention: the server deletes entries older than
``UNIPAY_ACTIVITY_RETENTION_DAYS``, once at start and then every hour."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from unipay._flow import acall
from unipay.storage import Store

logger = logging.getLogger("unipay.server")

#: Seconds between purges: the log's oldest hour goes each hour.
PURGE_EVERY = 3600.0


async def purge_activity_periodically(
    store: Store, *, retention_days: int, every: float = PURGE_EVERY
) -> None:
    """Run until cancelled (the application's lifespan cancels it on shutdown). A store that
    keeps no log ends it; a failed purge is logged and tried again next time."""
    while True:
        older_than = datetime.now(UTC) - timedelta(days=retention_days)
        try:
            purged = await acall(store.purge_activity, older_than=older_than)
        except NotImplementedError:
            logger.info("%s keeps no activity log: nothing to purge", type(store).__name__)
            return
        except Exception:
            logger.exception("purging the activity log failed; trying again in %gs", every)
        else:
            if purged:
                logger.info("purged %d activity entries older than %s", purged, older_than)
        await asyncio.sleep(every)
