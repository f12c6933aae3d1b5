"""The one mapping of redis-py errors: every failure fails closed, retryable only when Redis may recover."""

from __future__ import annotations

import pytest
from redis import exceptions

from bot import errors
from bot.adapters.redis import conn as redis_conn


@pytest.mark.parametrize(
    "cause",
    [
        exceptions.ConnectionError("Connection refused"),
        exceptions.TimeoutError("Timeout reading from socket"),
        exceptions.ReadOnlyError("You can't write against a read only replica."),
        exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        exceptions.ResponseError("BUSY Redis is busy running a script."),
        ConnectionResetError("reset by peer"),
    ],
)
async def test_errors_redis_may_recover_from_are_retryable(cause: Exception) -> None:
    with pytest.raises(errors.CoordinationUnavailable) as raised:
        async with redis_conn.guarded("claim"):
            raise cause

    assert raised.value.retryable is True
    assert raised.value.__cause__ is cause
    assert raised.value.message.startswith("claim: Redis failed")


@pytest.mark.parametrize(
    "cause",
    [
        exceptions.ResponseError("ERR user_script:3: Script attempted to access nonexistent global variable"),
        exceptions.NoPermissionError("NOPERM this user has no permissions to run the 'eval' command"),
        exceptions.DataError("Invalid input of type: 'dict'"),
    ],
)
async def test_other_redis_errors_fail_closed_and_are_final(cause: Exception) -> None:
    with pytest.raises(errors.CoordinationUnavailable) as raised:
        async with redis_conn.guarded("reserve"):
            raise cause

    assert raised.value.retryable is False


async def test_errors_that_are_not_from_redis_pass_untouched() -> None:
    with pytest.raises(ValueError, match="ours"):
        async with redis_conn.guarded("finish"):
            raise ValueError("ours")


def test_the_old_name_is_the_error_tree_class() -> None:
    assert redis_conn.CoordinationUnavailable is errors.CoordinationUnavailable
    assert issubclass(errors.CoordinationUnavailable, errors.QuorumError)
    assert issubclass(errors.LeaseLost, errors.GuardrailError)


def test_reply_items_read_as_text() -> None:
    assert [redis_conn.text(b"job"), redis_conn.text("job"), redis_conn.text(7)] == ["job", "job", "7"]
