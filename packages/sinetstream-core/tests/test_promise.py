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


class _Source:
    """A backend future that completes on its own, like kafka-python's."""

    def __init__(self) -> None:
        self.value: object = None
        self.done = False
        self.callbacks: list[object] = []
        self.attached = 0

    def add_callback(self, fn: object) -> None:
        self.attached += 1
        if self.done:
            fn(self.value)  # type: ignore[operator]
        else:
            self.callbacks.append(fn)

    def complete(self, value: object) -> None:
        self.value, self.done = value, True
        for fn in self.callbacks:
            fn(value)  # type: ignore[operator]


def _deferred() -> tuple[SinetPromise, _Source]:
    promise, source = SinetPromise(), _Source()
    promise.resolve_when_observed(lambda: source.add_callback(promise.do_resolve))
    return promise, source


@pytest.mark.parametrize(
    "observe",
    [
        lambda p: p.get(1),
        lambda p: p.value,
        lambda p: p.is_pending,
        lambda p: p.is_fulfilled,
        lambda p: p.then(lambda v: v).get(1),
        lambda p: Promise.all([p]).get(1)[0],
        lambda p: asyncio.run(_awaited(p)),
        repr,
    ],
    ids=["get", "value", "is_pending", "is_fulfilled", "then", "all", "await", "repr"],
)
def test_deferred_success_is_fetched_by_any_observer(observe: object) -> None:
    promise, source = _deferred()
    source.complete("receipt")
    assert source.attached == 0  # nobody looked: no settling work was done
    observe(promise)  # type: ignore[operator]
    assert source.attached == 1
    assert promise.is_fulfilled
    assert promise.get(0) == "receipt"
    assert source.attached == 1  # attached once


async def _awaited(p: SinetPromise) -> object:
    return await p


def test_deferred_promise_observed_before_completion_settles_later() -> None:
    promise, source = _deferred()
    seen: list[object] = []
    promise.then(seen.append)
    assert promise.is_pending
    assert seen == []
    threading.Timer(0.05, source.complete, args=("late",)).start()
    assert promise.get(2) == "late"
    assert seen == ["late"]


def test_deferred_promise_rejects_eagerly_for_failure_hooks() -> None:
    errors: list[SinetError] = []
    promise, _source = _deferred()
    promise.on_failure(errors.append)
    promise.do_reject(SinetError("broker said no"))
    assert [str(e) for e in errors] == ["broker said no"]
    with pytest.raises(SinetError, match="broker said no"):
        promise.get(1)
    # A promise settled before resolve_when_observed keeps no deferred work.
    done = SinetPromise()
    done.do_resolve(1)
    done.resolve_when_observed(lambda: pytest.fail("attach after settling"))
    assert done.get(0) == 1


@pytest.mark.parametrize(
    "observe",
    [
        lambda p: p.get(0),
        lambda p: p.value,
        lambda p: p.then(lambda v: v).get(1),
        lambda p: Promise.all([p]).get(1)[0],
        lambda p: asyncio.run(_awaited(p)),
    ],
    ids=["get", "value", "then", "all", "await"],
)
def test_fulfilled_is_a_resolved_promise(observe: object) -> None:
    receipt = object()
    promise = PublishPromise.fulfilled(receipt)
    assert type(promise) is PublishPromise
    assert promise.is_fulfilled
    assert not promise.is_pending
    assert not promise.is_rejected
    assert observe(promise) is receipt  # type: ignore[operator]
    assert "fulfilled" in repr(promise).lower()


def test_fulfilled_never_rejects_nor_reports_a_failure() -> None:
    errors: list[SinetError] = []
    promise = SinetPromise.fulfilled("receipt")
    assert settle_from(promise, errors.append) is promise
    promise.do_reject(SinetError("too late"))  # a promise settles once
    promise.do_resolve("other")
    assert promise.get(0) == "receipt"
    assert errors == []


def test_fulfilled_with_a_thenable_follows_it() -> None:
    inner = SinetPromise()
    outer = SinetPromise.fulfilled(inner)
    assert outer.is_pending
    inner.do_resolve("late")
    assert outer.get(1) == "late"
