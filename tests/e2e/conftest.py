"""Source files for the trade loop, generated with the demo's seeded generators."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from suanshu.demo import datasets


@pytest.fixture
def sources(tmp_path):
    d = tmp_path / "sources"
    d.mkdir()
    weather = datasets.meteorology_hourly(rows=1500)
    subscribers = datasets.telecom_subscribers(rows=600)
    files = {
        "weather_gbk": datasets.write_csv(weather, d / "气象逐时.csv", encoding="gbk"),
        "subscribers": datasets.write_csv(subscribers, d / "subscribers.csv"),
        "parcels": d / "parcels.parquet",
        "crops_xlsx": datasets.write_xlsx(datasets.crop_yield(rows=300), d / "作物.xlsx"),
    }
    pq.write_table(datasets.land_parcels(rows=400), files["parcels"])
    return {"files": files, "weather": weather, "subscribers": subscribers}


WEATHER_POLICY = {"mode": "aggregate", "min_group_size": 30,
                  "columns": {"city": "dimension", "station_name": "dimension", "temperature_c": "aggregate",
                              "precipitation_mm": "aggregate"},
                  "aggregates": ["count", "sum", "avg"]}

TELECOM_CLEAR_POLICY = {"mode": "aggregate", "min_group_size": 10,
                        "columns": {"resident_id": "dimension", "city": "dimension", "monthly_fee_fen": "aggregate"}}

TELECOM_POLICY = {"mode": "aggregate", "min_group_size": 10,
                  "columns": {"city": "dimension", "plan": "dimension", "monthly_fee_fen": "aggregate",
                              "churned": "aggregate", "mobile": "hidden"}}
TELECOM_RULES = {"resident_id": {"method": "drop"}, "subscriber_name": {"method": "drop"},
                 "bank_card": {"method": "drop"}, "email": {"method": "drop"},
                 "mobile": {"method": "mask", "keep_first": 3, "keep_last": 4}}
