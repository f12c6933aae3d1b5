"""Fixtures shared by every test directory."""

pytest_plugins = [
    "tests.support.redis_server",
    "tests.fakes.fixtures",
    "tests.fakes.github_fixtures",
    "tests.fakes.elastic_fixtures",
]
