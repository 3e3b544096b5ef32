"""The demo exchange: a Hunan data-and-compute market, built and traded end to end.

Providers: a provincial meteorological data centre (GBK CSV, as government exports often
are), an agriculture big-data sub-platform (Excel), a geospatial institute (Parquet) and a
telecom operator whose subscriber table holds identity numbers, mobiles and bank cards.
Two compute providers join the exchange; two buyers sign contracts and query. The telecom
operator's first, clear listing is refused by the gate; its desensitized one is listed.
Everything is generated with a fixed seed, so every run tells the same story.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from suanshu.audit import log as audit
from suanshu.cli.output import table
from suanshu.core.errors import Refused
from suanshu.core.money import format_fen
from suanshu.core.settings import load_settings
from suanshu.demo import datasets
from suanshu.market import assets, components, contracts, jobs, orgs, pools, queries, review, settlement, users
from suanshu.market.exchange import Exchange

console = Console()
# Console sign-in for every demo org: the username is the org's name (exchange = the operator).
# A demo password, printed by `make run`; never use it outside the demo.
DEMO_PASSWORD = "suanshu-demo"

COMPONENTS = {
    "hunan-meteo": dict(
        asset="weather_hourly", name="hunan_weather_monthly", price_fen=200,
        title="湖南省逐时气象观测（按站点/月聚合）", tags=("气象", "逐时", "湖南", "2023"),
        description="2023 年湖南省国家气象站逐时观测：气温、降水、湿度、风速，按城市、站点、月份聚合查询。",
        sql=("SELECT city, station_name, substr(observed_at, 1, 7) AS month, temperature_c, precipitation_mm, "
             "humidity_pct, wind_speed_ms FROM weather_hourly"),
        policy={"mode": "aggregate", "min_group_size": 24,
                "columns": {"city": "dimension", "station_name": "dimension", "month": "dimension",
                            "temperature_c": "aggregate", "precipitation_mm": "aggregate",
                            "humidity_pct": "aggregate", "wind_speed_ms": "aggregate"},
                "aggregates": ["count", "sum", "avg", "min", "max"]},
        desensitize={},
        source_legality_statement="本中心依《气象法》开展的国家气象站业务观测数据，本中心依法享有并可对外提供；不含个人信息。"),
    "hunan-agri-data": dict(
        asset="crop_yield", name="county_crop_yield", price_fen=500,
        title="湖南县域主要作物单产（合作社填报）", tags=("农业", "产量", "县域"),
        description="县、作物、年份维度的播种面积、亩产与化肥用量；农户姓名已删除，手机号已脱敏。",
        sql=("SELECT county, crop, year, sown_area_mu, yield_kg_per_mu, fertilizer_kg, farmer_name, farmer_phone "
             "FROM crop_yield"),
        policy={"mode": "aggregate", "min_group_size": 5,
                "columns": {"county": "dimension", "crop": "dimension", "year": "dimension",
                            "sown_area_mu": "aggregate", "yield_kg_per_mu": "aggregate",
                            "fertilizer_kg": "aggregate", "farmer_phone": "hidden"},
                "aggregates": ["count", "sum", "avg"]},
        desensitize={"farmer_name": {"method": "drop"}, "farmer_phone": {"method": "mask"}},
        source_legality_statement="合作社成员填报，已取得农户书面授权同意用于统计分析与对外提供；姓名删除、手机号脱敏。"),
    "hunan-geo-institute": dict(
        asset="land_parcels", name="land_use_stats", price_fen=100,
        title="县域土地利用与坡度统计", tags=("地理信息", "土地利用", "耕地"),
        description="地块级土地利用类型、面积、坡度和土壤类型，按县与地类聚合。",
        sql="SELECT county, land_use, soil_type, area_m2, slope_deg FROM land_parcels",
        policy={"mode": "aggregate", "min_group_size": 5,
                "columns": {"county": "dimension", "land_use": "dimension", "soil_type": "dimension",
                            "area_m2": "aggregate", "slope_deg": "aggregate"},
                "aggregates": ["count", "sum", "avg", "min", "max"]},
        desensitize={},
        source_legality_statement="本院承担的县域国土调查与土壤普查成果，经主管部门许可用于社会化服务；不含个人信息。"),
}

TELECOM_CLEAR = dict(
    asset="subscribers", name="subscriber_profile_raw", price_fen=1000, title="用户画像（未脱敏）",
    sql="SELECT resident_id, city, plan, monthly_fee_fen FROM subscribers",
    policy={"mode": "aggregate", "min_group_size": 20,
            "columns": {"resident_id": "dimension", "city": "dimension", "plan": "dimension",
                        "monthly_fee_fen": "aggregate"}},
    desensitize={}, source_legality_statement="本公司在提供通信服务中依法收集的用户数据，用户协议已告知并取得同意。")
TELECOM = dict(
    asset="subscribers", name="subscriber_churn", price_fen=800,
    title="运营商用户流失与消费画像（脱敏、聚合）", tags=("通信", "用户画像", "流失"),
    description="按城市、区县、套餐聚合的月消费、流量、在网时长与流失率；身份证号做密钥哈希，手机号脱敏，姓名与银行卡删除。",
    sql=("SELECT resident_id, subscriber_name, mobile, bank_card, city, district, gender, plan, age, "
         "monthly_fee_fen, data_usage_gb, tenure_months, churned FROM subscribers"),
    policy={"mode": "aggregate", "min_group_size": 20,
            # gender is personal information (PIPL): the gate refuses it as a clear dimension
            "columns": {"city": "dimension", "district": "dimension", "gender": "hidden", "plan": "dimension",
                        "age": "aggregate", "monthly_fee_fen": "aggregate", "data_usage_gb": "aggregate",
                        "tenure_months": "aggregate", "churned": "aggregate",
                        "resident_id": "hidden", "mobile": "hidden"},
            "aggregates": ["count", "sum", "avg", "min", "max"]},
    desensitize={"resident_id": {"method": "hash"}, "mobile": {"method": "mask", "keep_first": 3, "keep_last": 4},
                 "subscriber_name": {"method": "drop"}, "bank_card": {"method": "drop"}},
    source_legality_statement="本公司在提供通信服务中依法收集的用户数据，用户协议已告知并取得同意；"
                              "身份证号哈希、手机号脱敏，姓名与银行卡删除，仅以聚合结果对外提供。")

POOLS = {
    "changsha-hpc": [
        {"name": "x86-hpc", "kind": "hpc", "arch": "x86_64", "region": "湖南-长沙", "cpu": 8192, "memory_gb": 32768,
         "price": {"cpu_hour": 8, "memory_gb_hour": 1}, "transfer_fen_per_gb": {"湖南-长沙": 0, "湖南-湘潭": 20}},
        {"name": "kunpeng-general", "kind": "general", "arch": "aarch64", "region": "湖南-长沙", "cpu": 4096,
         "memory_gb": 16384, "price": {"cpu_hour": 6, "memory_gb_hour": 1},
         "transfer_fen_per_gb": {"湖南-长沙": 0, "湖南-湘潭": 20}},
    ],
    "xiangjiang-ai": [
        {"name": "ascend-910b", "kind": "ai", "arch": "aarch64", "region": "湖南-湘潭", "cpu": 6144,
         "memory_gb": 49152, "accelerators": {"ascend-910b": 256},
         "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"ascend-910b": 1200}},
         "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}},
        {"name": "nvidia-a800", "kind": "ai", "arch": "x86_64", "region": "湖南-湘潭", "cpu": 1024,
         "memory_gb": 8192, "accelerators": {"nvidia-a800": 64},
         "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"nvidia-a800": 1800}},
         "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}},
    ],
}

# Compute-to-data (issue 6): the buyer's program runs next to the weather data on a Changsha pool; the
# station ids stay hidden (usable in the computation, never in what leaves), outputs are checked.
JOB_COMPONENT = dict(
    asset="weather_hourly", name="hunan_weather_compute", price_fen=300,
    title="湖南逐时气象（计算下沉：程序在数据旁运行）", tags=("气象", "计算下沉", "湖南"),
    description="买方提交 Python 程序，在长沙的算力池上就地运行；站点编号不可输出，结果经检查后放行。",
    sql="SELECT city, station_id, observed_at, temperature_c, precipitation_mm FROM weather_hourly",
    policy={"mode": "job", "residency": ["湖南-长沙"],
            "columns": {"city": "dimension", "observed_at": "dimension", "temperature_c": "aggregate",
                        "precipitation_mm": "aggregate", "station_id": "hidden"},
            "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 0.5, "max_output_bytes": 262144}},
    desensitize={}, source_legality_statement="本中心依《气象法》开展的国家气象站业务观测数据，本中心依法享有并可对外提供；不含个人信息。")
DEMO_JOB = """import os, pyarrow.parquet as pq, pyarrow.compute as pc, pyarrow.csv as csv
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "hunan_weather_compute.parquet"))
t = t.append_column("month", pc.utf8_slice_codeunits(t["observed_at"], 0, 7))
rain = t.group_by(["city", "month"]).aggregate([("precipitation_mm", "sum"), ("temperature_c", "mean")])
csv.write_csv(rain.sort_by([("city", "ascending"), ("month", "ascending")]),
              os.path.join(os.environ["SUANSHU_OUTPUT"], "monthly_rain_by_city.csv"))
print("cities x months:", rain.num_rows)
"""

QUERIES = [
    ("insurer", "hunan_weather_monthly",
     "SELECT city, month, round(avg(temperature_c), 1) AS avg_temp, round(sum(precipitation_mm), 1) AS rain_mm "
     "FROM hunan_weather_monthly WHERE city = '长沙市' GROUP BY city, month ORDER BY month LIMIT 12"),
    ("insurer", "county_crop_yield",
     "SELECT crop, count(*) AS reports, round(avg(yield_kg_per_mu), 1) AS kg_per_mu FROM county_crop_yield "
     "GROUP BY crop ORDER BY kg_per_mu DESC"),
    ("insurer", "land_use_stats",
     "SELECT land_use, round(sum(area_m2) / 666.67, 0) AS mu, round(avg(slope_deg), 1) AS slope "
     "FROM land_use_stats GROUP BY land_use ORDER BY mu DESC"),
    ("analytics", "subscriber_churn",
     "SELECT city, plan, count(*) AS users, round(avg(churned), 3) AS churn_rate, "
     "round(avg(monthly_fee_fen) / 100, 2) AS arpu_yuan FROM subscriber_churn GROUP BY city, plan "
     "ORDER BY churn_rate DESC LIMIT 10"),
    ("analytics", "subscriber_churn",  # refused: a hidden column
     "SELECT mobile, count(*) FROM subscriber_churn GROUP BY mobile"),
]


def _write_sources(tmp: Path) -> dict[str, Path]:
    files = {
        "weather_hourly": tmp / "湖南气象逐时_2023.csv",
        "crop_yield": tmp / "作物单产.xlsx",
        "land_parcels": tmp / "land_parcels.parquet",
        "subscribers": tmp / "subscribers.csv",
    }
    datasets.write_csv(datasets.meteorology_hourly(rows=20_000), files["weather_hourly"], encoding="gbk")
    datasets.write_xlsx(datasets.crop_yield(), files["crop_yield"])
    import pyarrow.parquet as pq

    pq.write_table(datasets.land_parcels(), files["land_parcels"])
    datasets.write_csv(datasets.telecom_subscribers(), files["subscribers"], encoding="utf-8")
    return files


DEMAND_JOB = {"cpu": 16, "memory_gb": 64, "accelerators": {"ascend-910b": 4}, "hours": 20,
              "data": {"region": "湖南-长沙", "gb": 10}}


def demand_round(ex: Exchange, buyer: str) -> dict:
    """A scenario demand (场景需求): posted, bid on by two providers and the pools, awarded in one step."""
    from datetime import timedelta

    from suanshu.core.clock import utcnow
    from suanshu.market import demands

    spec = demands.DemandSpec(title="长沙 2023 逐时降雨 + 智算训练水稻产量模型", tags=("气象", "降水", "农业"),
                              description="需要长沙逐时降水与气温，以及 4 卡昇腾训练 20 小时", region="湖南-长沙",
                              compute=DEMAND_JOB, budget_fen=300_000, deadline=utcnow() + timedelta(days=7),
                              purpose="demo analysis")
    demand = demands.post(ex, orgs.local_actor(ex, buyer), spec)
    data_bid = demands.bid(ex, orgs.local_actor(ex, "hunan-meteo"), demand.id,
                           component="hunan_weather_monthly", price_fen=150, note="2023 全年逐时")
    demands.bid(ex, orgs.local_actor(ex, "hunan-agri-data"), demand.id, component="county_crop_yield", price_fen=400)
    board = demands.show(ex, orgs.local_actor(ex, buyer), demand.id)
    winner = board.auction["winner"] if board.auction else None
    compute = [b.id for b in board.bids if b.kind == "compute" and b.pool_id == winner]
    award = demands.accept(ex, orgs.local_actor(ex, buyer), demand.id, [data_bid.id, *compute])
    return {"demand": demand, "board": demands.show(ex, orgs.local_actor(ex, buyer), demand.id), "award": award}


def build(ex: Exchange) -> dict:
    """Create the demo's orgs, data, components, contracts and queries; return what happened."""
    story: dict = {"tokens": {}, "assets": [], "refusals": [], "components": {}, "contracts": {}, "queries": []}
    op_org, op_token = orgs.ensure_operator(ex)
    story["tokens"][op_org.name] = op_token
    for spec in datasets.ORGS:
        if "operator" in spec["roles"]:
            continue
        org, token = orgs.create_org(ex, None, spec["name"], spec["roles"], display_name=spec["display_name"],
                                     region=spec.get("region", ""))
        story["tokens"][org.name] = token
    for org in orgs.list_orgs(ex):
        users.create_user(ex, None, org.name, org.name, DEMO_PASSWORD, display_name=org.display_name)
    for owner, specs in POOLS.items():
        for spec in specs:
            pools.register(ex, orgs.local_actor(ex, owner), spec)
    operator = orgs.local_actor(ex, op_org.name)
    buyers = [o["name"] for o in datasets.ORGS if "buyer" in o["roles"]]
    for name in buyers:
        settlement.deposit(ex, operator, name, 5_000_000, reference="demo opening deposit")

    with tempfile.TemporaryDirectory(prefix="suanshu-demo-") as tmp:
        files = _write_sources(Path(tmp))
        owners = {"weather_hourly": "hunan-meteo", "crop_yield": "hunan-agri-data",
                  "land_parcels": "hunan-geo-institute", "subscribers": "xiangxin-telecom"}
        for asset_name, owner in owners.items():
            asset, scan = assets.add_asset(ex, orgs.local_actor(ex, owner), files[asset_name], name=asset_name)
            story["assets"].append((owner, asset, scan))

    def publish(owner: str, spec: dict):
        # the provider submits, the operator reviews the gate's verdict and the scan, and lists it
        submitted = review.submit(ex, orgs.local_actor(ex, owner), components.ComponentSpec(**spec))
        return review.approve(ex, operator, submitted.id, note="demo: gate passed, scan reviewed")

    for owner, spec in COMPONENTS.items():
        story["components"][spec["name"]] = publish(owner, spec)
    try:
        publish("xiangxin-telecom", TELECOM_CLEAR)
    except Refused as refusal:
        story["refusals"].append(refusal)
    story["components"][TELECOM["name"]] = publish("xiangxin-telecom", TELECOM)
    story["components"][JOB_COMPONENT["name"]] = publish("hunan-meteo", JOB_COMPONENT)

    insurer, analytics = buyers[0], buyers[1]
    who = {"insurer": insurer, "analytics": analytics}
    for buyer, comp in [(insurer, "hunan_weather_monthly"), (insurer, "county_crop_yield"),
                        (insurer, "land_use_stats"), (analytics, "subscriber_churn")]:
        contract = contracts.request(ex, orgs.local_actor(ex, buyer), comp, 100_000, purpose="demo analysis")
        story["contracts"][(buyer, comp)] = contract
    job_contract = contracts.request(ex, orgs.local_actor(ex, insurer), JOB_COMPONENT["name"], 100_000,
                                     purpose="demo analysis")
    job = jobs.submit(ex, orgs.local_actor(ex, insurer), job_contract.id, DEMO_JOB,
                      {"cpu": 1, "memory_gb": 1, "hours": 0.1})
    story["jobs"] = [jobs.run(ex, job.id) if job.state == "placed" else job]
    for buyer_key, comp, sql in QUERIES:
        buyer = who[buyer_key]
        contract = story["contracts"][(buyer, comp)]
        try:
            story["queries"].append((buyer, comp, queries.run(ex, orgs.local_actor(ex, buyer), contract.id, sql)))
        except Refused as refusal:
            story["queries"].append((buyer, comp, refusal))
    story["demand"] = demand_round(ex, insurer)
    return story


def report(ex: Exchange, story: dict) -> None:
    console.rule("[bold]算数 Suanshu — demo exchange")
    table("Organizations", ["name", "display name", "roles", "region"],
          [(o.name, o.display_name, ",".join(o.roles), o.region) for o in orgs.list_orgs(ex)])
    table("Vault ingests (raw rows stay in each provider's vault)",
          ["provider", "asset", "format", "encoding", "rows", "grade", "findings"],
          [(owner, a.name, a.source_format, a.encoding or "-", a.rows, s.grade, s.findings_total)
           for owner, a, s in story["assets"]])
    table("Compute pools (算力池)", ["provider pool", "kind", "arch", "region", "cpu", "accelerators"],
          [(p.name, p.kind, p.arch, p.region, p.cpu, ", ".join(f"{k}×{v}" for k, v in p.accelerators.items()) or "-")
           for p in pools.list_pools(ex)])
    for refusal in story["refusals"]:
        console.print(f"[yellow]Gate refused[/] subscriber_profile_raw: [dim]{refusal.code}[/] {refusal.message}")
    table("Catalog", ["component", "title", "exposed in clear", "price/query"],
          [(c.name, c.title, ", ".join(c.gate["exposed_columns"]), format_fen(c.price_fen))
           for c in story["components"].values()])
    for buyer, comp, outcome in story["queries"]:
        if isinstance(outcome, Refused):
            console.print(f"[yellow]{buyer} → {comp}: refused[/] [dim]{outcome.code}[/] {outcome.message}")
            continue
        table(f"{buyer} → {comp}", outcome.columns, outcome.rows[:8])
        r = outcome.receipt
        console.print(f"  receipt {r['query']}: {r['rows_out']} rows, {format_fen(r['price_fen'])} "
                      f"(provider {format_fen(r['provider_fen'])}, operator {format_fen(r['operator_fen'])}), "
                      f"audit #{r['audit_seq']}")
    for job in story.get("jobs", []):
        r, p = job.receipt, job.placement
        console.print(f"Compute-to-data job {job.id}: [bold]{job.state}[/] on {p.get('pool_name')} "
                      f"({p.get('region')}; {p.get('why')}); bill {format_fen(r.get('price_fen', 0))} = data "
                      f"{format_fen(r.get('data_fen', 0))} + compute {format_fen(r.get('compute_fen', 0))}, "
                      f"outputs {[f['name'] for f in r.get('outputs', [])]}, audit #{r.get('audit_seq')}")
    if story.get("demand"):
        d = story["demand"]
        table(f"Demand (场景需求) {d['demand'].title}: bids side by side", ["kind", "bidder", "price", "state"],
              [(b.kind, d["board"].names.get(b.bidder_org_id), format_fen(b.price_fen), b.state) for b in d["board"].bids])
        console.print(f"  awarded: contract {', '.join(d['award']['contracts'])}, {len(d['award']['holds'])} hold(s)")
    rows = settlement.balances(ex, None)
    table("Ledger balances", ["org", "account", "posted", "held", "available"],
          [(r.org, r.account, format_fen(r.posted_fen), format_fen(r.held_fen), format_fen(r.available_fen))
           for r in rows])
    console.print(f"Sum of posted balances: {format_fen(sum(r.posted_fen for r in rows))} (always ¥0.00)")
    from suanshu.audit import checkpoint

    signed = checkpoint.checkpoint(ex.db, ex.settings.home)  # signed, and exported outside the database
    with ex.db.transaction() as s:
        result = checkpoint.verify(s, ex.settings.home)
    console.print(f"Audit log: {'intact' if result.ok else 'BROKEN'}, {result.entries} entries, "
                  f"Merkle root {result.root[:16]}… signed at size {signed.tree_size}")
    console.print(f"Data dir: {ex.settings.home}  (API tokens: {ex.settings.home / 'demo-tokens.json'})")
    console.print(f"Console: sign in as any org name above (e.g. [bold]xiangnong-insurance[/] buyer, "
                  f"[bold]hunan-meteo[/] provider, [bold]exchange[/] operator) with the password "
                  f"[bold]{DEMO_PASSWORD}[/]")


def run_demo(*, reset: bool = False) -> dict:
    settings = load_settings()
    if settings.home.exists() and any(settings.home.iterdir()):
        if not reset:
            from suanshu.core.errors import UsageError

            raise UsageError("demo.home_not_empty",
                             f"{settings.home} already holds an exchange; pass --reset to rebuild it "
                             "or point SUANSHU_HOME at an empty directory")
        if settings.is_sqlite:
            shutil.rmtree(settings.home)
        else:
            raise UsageError("demo.reset_postgres", "--reset only wipes the embedded SQLite data dir")
    ex = Exchange.open(settings)
    try:
        story = build(ex)
        tokens = settings.home / "demo-tokens.json"
        tokens.write_text(json.dumps(story["tokens"], indent=2), encoding="utf-8")
        tokens.chmod(0o600)
        report(ex, story)
        return story
    finally:
        ex.close()
