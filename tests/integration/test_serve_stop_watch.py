"""A stop that outlasts its bound ends the process and says what held it (a real child process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent(
    """
    import asyncio, logging, time
    from bot.entrypoints import serve

    def a_cleanup_that_never_returns():
        time.sleep(60)

    async def main():
        watch = serve.StopWatch(0.5)
        watch.start(asyncio.get_running_loop())
        sleeper = asyncio.create_task(asyncio.sleep(60), name="a-task-still-running")
        await asyncio.sleep(0)
        a_cleanup_that_never_returns()  # blocks the event loop, as a stuck close would
        sleeper.cancel()

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
    """
)


def test_a_stuck_stop_exits_with_the_stacks_of_what_held_it() -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - started

    assert done.returncode == 1, done.stderr
    assert took < 20  # ended by the watch, not by the 60 s the cleanup would have taken
    assert "stopping has taken over 0 s: exiting" in done.stderr
    assert "in a_cleanup_that_never_returns" in done.stderr  # the stack of the thread it blocked
    assert "Stack for <Task pending name='a-task-still-running'" in done.stderr  # and the tasks left


def test_a_stop_that_ends_in_time_is_not_touched() -> None:
    child = CHILD.replace("time.sleep(60)", "time.sleep(0.1)").replace("sleeper.cancel()", "watch.cancel()")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0, done.stderr
    assert "stopping has taken over" not in done.stderr
