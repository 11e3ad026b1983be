"""The suite's fork-server pool (`tests.helpers.server_pool`): one server per environment up to
its run-time variables, an ended server replaced, the oldest closed past the limit."""

from __future__ import annotations

from tests.helpers.server_pool import ServerPool


class _FakeServer:
    def __init__(self, env):
        self.env, self.closed, self.returncode = env, False, None
        self.process = self

    def poll(self):
        return self.returncode

    def close(self):
        self.closed = True


def test_one_server_per_environment_up_to_run_time_variables():
    pool = ServerPool(_FakeServer, ("PER_RUN",), limit=2)
    first = pool.server_for({"A": "1", "PER_RUN": "x"})
    assert first.env == {"A": "1"}  # the server never sees the run-time variables
    assert pool.server_for({"A": "1", "PER_RUN": "y"}) is first
    second = pool.server_for({"A": "2"})
    assert second is not first and not first.closed
    third = pool.server_for({"A": "3"})  # past the limit: the oldest goes
    assert first.closed and not second.closed and third is not second
    pool.close()
    assert second.closed and third.closed


def test_an_ended_server_is_released_and_started_again():
    pool = ServerPool(_FakeServer, (), limit=2)
    first = pool.server_for({"A": "1"})
    first.returncode = 1
    again = pool.server_for({"A": "1"})
    assert again is not first and first.closed
    pool.close()
