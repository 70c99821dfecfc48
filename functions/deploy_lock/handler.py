"""Lambda entry point of the deploy_lock function (tooling account): ``functions.deploy_lock.handler.handler``.

    acquire  in  {"action": "acquire", "environment", "executionId", "leaseSeconds", "modelVersion"?}
             out {"action": "acquire", "environment", "holder", "leaseUntil"}      raises LockBusy when taken
    release  in  {"action": "release", "environment"?, "executionId"}  or an execution status change event
             out {"action": "release", "released": [...], "notHeld": [...]}

Errors (``errorType``): LockBusy (the workflow retries it), LockInputError, LockConfigError, LockStoreError.

Environment: LOCK_TABLE_NAME; optional LOG_LEVEL.
"""

from __future__ import annotations

import os
import time
from typing import Any

from functions.common.executions import execution_of
from functions.common.logging import Logger
from functions.deploy_lock import lock, services
from functions.deploy_lock.errors import DeployLockError, LockBusy
from functions.deploy_lock.models import load_settings, parse_event

LOGGER = Logger("deploy_lock")


def handler(event: Any, context: Any) -> dict[str, Any]:
    log = LOGGER.bind(executionId=execution_of(event))
    try:
        settings = load_settings(os.environ)
        request = parse_event(event)
        store = services.DynamoLocks(settings.table_name)
        if request.action == "acquire":
            result = lock.acquire(request, store, now=int(time.time()))
            log.info("deploy lock acquired", **result)
        else:
            result = lock.release(request, store)
            log.info("deploy locks released", status=request.status, **result)
        return result
    except LockBusy as busy:
        log.info("deploy lock busy", reason=str(busy))
        raise
    except DeployLockError as error:
        log.error("deploy lock failed", error)
        raise
