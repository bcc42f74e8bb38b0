"""Riding out broker outages: the consumers' one retry loop."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka.errors import KafkaError

log = logging.getLogger(__name__)


def until_done(step: Callable[[], bool], *, what: str, should_stop: Callable[[], bool],
               on_retry: Callable[[], None] = lambda: None) -> None:
    """Call `step` until it reports done or `should_stop()`. A KafkaError means the broker went
    away (or fenced us): back off, then call `step` again, which starts from what Kafka committed."""
    failures = 0
    while not should_stop():
        try:
            if step():
                return
        except KafkaError as error:
            failures += 1
            on_retry()
            log.warning("%s: %s; retrying", what, error)
            time.sleep(min(2.0 * failures, 10.0))
