"""The one place the suite pays for a Prefect server: a session-wide test harness for flow tests."""
import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_harness():
    with prefect_test_harness(server_startup_timeout=180):
        yield
