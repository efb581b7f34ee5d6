"""PublishPromise keeps promise.Promise semantics while another thread settles it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from promise import Promise
from sinetstream.spi import PublishPromise


def test_then_chain_values_and_errors() -> None:
    p = PublishPromise()
    doubled = p.then(lambda v: v * 2)
    failed = p.then(lambda v: 1 / 0)
    recovered = failed.catch(lambda e: type(e).__name__)
    chained = p.then(lambda v: Promise.resolve(v + 1))
    p.do_resolve(20)
    assert doubled.get(1) == 40
    with pytest.raises(ZeroDivisionError):
        failed.get(1)
    assert recovered.get(1) == "ZeroDivisionError"
    assert chained.get(1) == 21
    assert p.then(lambda v: v + 2).get(1) == 22  # attached after settling
    assert p.is_fulfilled


def test_rejection_reaches_catch_and_get() -> None:
    p = PublishPromise()
    seen: list[BaseException] = []
    p.catch(seen.append)
    passthrough = p.then(lambda v: v)
    error = ValueError("no")
    p.do_reject(error)
    assert seen == [error]
    with pytest.raises(ValueError, match="no"):
        passthrough.get(1)
    with pytest.raises(ValueError, match="no"):
        p.get(1)
    p.do_resolve(1)  # settling twice is ignored
    assert p.is_rejected


def test_get_waits_for_a_settle_from_another_thread() -> None:
    p = PublishPromise()
    threading.Timer(0.05, p.do_resolve, ("late",)).start()
    assert p.get(5) == "late"


def test_no_handler_lost_when_then_races_settle() -> None:
    # Many promises settled by one thread while another attaches handlers.
    count = 3000
    promises = [PublishPromise() for _ in range(count)]
    calls: list[Any] = []
    lock = threading.Lock()

    def record(value: Any) -> None:
        with lock:
            calls.append(value)

    def settle_all() -> None:
        for i, p in enumerate(promises):
            p.do_resolve(i)

    settler = threading.Thread(target=settle_all)
    settler.start()
    for p in promises:
        p.then(record)
    settler.join()
    assert sorted(calls) == list(range(count))
