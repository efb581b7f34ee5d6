"""The publish Promise: thread-safe settling, failure hooks, asyncio await."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from promise import Promise
from sinetstream import SinetError
from sinetstream._promise import SinetPromise, settle_from
from sinetstream.spi import PublishPromise


def test_spi_exports_the_core_promise() -> None:
    assert PublishPromise is SinetPromise
    assert issubclass(PublishPromise, Promise)


def test_failure_hook_runs_once_before_or_after_rejection() -> None:
    errors: list[SinetError] = []
    late = SinetPromise()
    late.on_failure(errors.append)
    late.do_reject(ValueError("boom"))
    early = SinetPromise()
    early.do_reject(SinetError("already"))
    early.on_failure(errors.append)
    ok = SinetPromise()
    ok.on_failure(errors.append)
    ok.do_resolve(1)
    assert [type(e) for e in errors] == [SinetError, SinetError]
    assert isinstance(errors[0].__cause__, ValueError)
    with pytest.raises(SinetError):
        late.get(1)


def test_follows_foreign_promises_and_futures() -> None:
    errors: list[SinetError] = []
    plain: Promise[int] = Promise()
    followed = settle_from(plain, errors.append)
    plain.do_resolve(7)
    assert followed.get(1) == 7
    fut: concurrent.futures.Future[int] = concurrent.futures.Future()
    followed = settle_from(fut, errors.append)
    fut.set_exception(OSError("down"))
    with pytest.raises(SinetError, match="OSError: down"):
        followed.get(1)
    assert len(errors) == 1
    assert settle_from("value", errors.append).get(1) == "value"


def test_await_from_asyncio_while_another_thread_settles() -> None:
    p = SinetPromise()

    async def main() -> int:
        threading.Timer(0.05, p.do_resolve, args=(42,)).start()
        return await p  # type: ignore[no-any-return]

    assert asyncio.run(main()) == 42

    failed = SinetPromise()

    async def fails() -> None:
        threading.Timer(0.05, failed.do_reject, args=(SinetError("nope"),)).start()
        await failed

    with pytest.raises(SinetError, match="nope"):
        asyncio.run(fails())


def test_get_times_out() -> None:
    with pytest.raises(TimeoutError):
        SinetPromise().get(0.05)
