from __future__ import annotations

import pytest
from policy_helpers import make_customers, policy, write_parquet

from suanshu.policy import Sandbox


@pytest.fixture(scope="session")
def customers_rows():
    return make_customers()


@pytest.fixture
def customers_file(tmp_path, customers_rows):
    return write_parquet(customers_rows, tmp_path / "customers.parquet")


@pytest.fixture
def sandbox(customers_file):
    with Sandbox({"customers": customers_file}, views={"customers": 'SELECT * FROM vault."customers"'}) as box:
        yield box


@pytest.fixture
def customers_policy():
    return policy()
