"""HTTP API under load (issue 7): requests/s and p50/p99 latency on loopback against a real
`suanshu serve` (uvicorn, its own process) over the demo exchange, on the embedded default
(SQLite) and on PostgreSQL. Goal: p99 < 50 ms at 200 requests/s for catalog search and the
component page.

    uv run python bench/api_load.py [--backend sqlite|postgres|both] [--seconds 10] [--rate 200]

Scenarios: catalog search with a Chinese term (rotating 气象, 降水, 农业 产量, 湖南 天气, 手机),
the component page (GET /components/{name}), and a governed query submit (POST
/contracts/{id}/queries, an aggregate over the weather component, charged per answer).

Two ways of loading each scenario:
- open loop: requests start on a fixed schedule (``--rate``/s; queries at ``--query-rate``) however
  slow the answers are, and latency counts from the scheduled start, so a stalled server cannot
  hide its queue (no coordinated omission);
- closed loop: ``--concurrency`` clients send back to back for the same time: the max rps.

The generator is a small asyncio loop writing ready-made HTTP/1.1 requests on keep-alive
connections (no dependency; an open-loop schedule is a few lines here, while locust paces per
simulated user and its Python workers, like an httpx client, would take much of the CPU the two
cores need for the server). It shares the machine with the server: each line reports the
server's and the generator's CPU seconds and the load average. Prints one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parent.parent
TERMS = ["气象", "降水", "农业 产量", "湖南 天气", "手机"]
COMPONENT = "hunan_weather_monthly"
QUERY = f"SELECT city, count(*) AS n, avg(temperature_c) AS t FROM {COMPONENT} GROUP BY city"
BUYER, OPERATOR = "xiangnong-insurance", "exchange"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SUANSHU = [str(Path(sys.executable).parent / "suanshu")]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def percentile(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))] if sorted_ms else float("nan")


class Server:
    """`suanshu serve` over a data dir, in its own process."""

    def __init__(self, env: dict, logdir: Path):
        self.port = free_port()
        # the access log goes to a file: a pipe nobody reads fills up and stalls the server
        self.log = logdir / f"serve-{self.port}.log"
        self.proc = subprocess.Popen([*SUANSHU, "serve", "--port", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 300  # imports alone take a while when others load the cores
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v1/openapi.json", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("suanshu serve did not come up: " + self.log.read_text()[-2000:])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def requests_for(scenario: str, contract: str, token: str):
    """An endless sequence of ready HTTP/1.1 requests (bytes) for a scenario."""
    head = f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
    i = 0
    while True:
        if scenario == "search":
            path = "/api/v1/catalog/search?q=" + quote(TERMS[i % len(TERMS)])
            yield f"GET {path} HTTP/1.1\r\n{head}\r\n".encode()
        elif scenario == "component":
            yield f"GET /api/v1/components/{COMPONENT} HTTP/1.1\r\n{head}\r\n".encode()
        else:
            body = json.dumps({"sql": QUERY}).encode()
            yield (f"POST /api/v1/contracts/{contract}/queries HTTP/1.1\r\n{head}Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        i += 1


class Connections:
    """Keep-alive connections to the server, opened as needed. A lean client on asyncio streams:
    the generator shares the two cores with the server, so it must cost little per request."""

    def __init__(self, port: int):
        self.port, self.idle = port, []

    async def send(self, request: bytes) -> int:
        if self.idle:
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, request)
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()  # the server closed it while idle (keep-alive timeout): as HTTP clients do, retry once
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return await self._exchange(reader, writer, request)

    async def _exchange(self, reader, writer, request: bytes) -> int:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def one(conns: Connections, request: bytes, start: float, latencies: list[float], errors: list[int]) -> None:
    try:
        status = await asyncio.wait_for(conns.send(request), 30)
        if status >= 400:
            errors.append(status)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, StopIteration):
        errors.append(0)
    latencies.append((time.perf_counter() - start) * 1000)


async def open_loop(conns, gen, rate: float, seconds: float):
    latencies, errors, tasks = [], [], []
    t0 = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = t0 + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # latency counts from the scheduled start, not from when the loop got round to it
        tasks.append(asyncio.create_task(one(conns, next(gen), due, latencies, errors)))
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - t0


async def closed_loop(conns, gen, concurrency: int, seconds: float):
    latencies, errors = [], []
    t0 = time.perf_counter()

    async def worker():
        while time.perf_counter() - t0 < seconds:
            await one(conns, next(gen), time.perf_counter(), latencies, errors)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - t0


def run_scenario(server: Server, token: str, contract: str, backend: str, scenario: str, mode: str,
                 args) -> dict:
    async def go():
        conns = Connections(server.port)
        gen = requests_for(scenario, contract, token)
        try:
            for _ in range(20):  # warm: connections, caches, the search index
                await conns.send(next(gen))
            if mode == "open":
                rate = args.query_rate if scenario == "query" else args.rate
                return rate, await open_loop(conns, gen, rate, args.seconds)
            return None, await closed_loop(conns, gen, args.concurrency, args.seconds)
        finally:
            conns.close()

    client0 = time.process_time()
    cpu0 = cpu_seconds(server.proc.pid)
    rate, (lat, errors, wall) = asyncio.run(go())
    server_cpu = cpu_seconds(server.proc.pid) - cpu0
    lat.sort()
    return {"bench": "api_load", "backend": backend, "scenario": scenario, "mode": mode, "target_rps": rate,
            "concurrency": None if mode == "open" else args.concurrency, "requests": len(lat),
            "errors": len(errors), "error_statuses": sorted(set(errors))[:5], "rps": round(len(lat) / wall, 1),
            "p50_ms": round(percentile(lat, 0.50), 2), "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(lat[-1], 2) if lat else None,
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_ms_per_request": round(1000 * server_cpu / max(1, len(lat)), 2),
            "client_cpu_s": round(time.process_time() - client0, 2), "wall_s": round(wall, 2),
            "loadavg": loadavg()}


def prepare(env: dict, logdir: Path) -> tuple[str, str]:
    """The demo exchange in env's data dir; a big contract for the query scenario. -> (buyer token, contract)."""
    if not (Path(env["SUANSHU_HOME"]) / "demo-tokens.json").exists():
        subprocess.run([*SUANSHU, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    tokens = json.loads((Path(env["SUANSHU_HOME"]) / "demo-tokens.json").read_text())
    server = Server(env, logdir)
    try:
        op = {"Authorization": f"Bearer {tokens[OPERATOR]}"}
        buyer = {"Authorization": f"Bearer {tokens[BUYER]}"}
        httpx.post(f"{server.url}/api/v1/ledger/deposits", headers=op, timeout=30,
                   json={"org": BUYER, "amount_fen": 50_000_000, "reference": "bench"}).raise_for_status()
        r = httpx.post(f"{server.url}/api/v1/contracts", headers=buyer, timeout=30,
                       json={"component": COMPONENT, "budget_fen": 50_000_000, "purpose": "bench"})
        r.raise_for_status()
        return tokens[BUYER], r.json()["id"]
    finally:
        server.stop()


def bench_backend(backend: str, args) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"suanshu-apiload-{backend}-"))
    data = args.home if args.home and backend == "sqlite" else home / "home"
    env = {**os.environ, "SUANSHU_HOME": str(data), "SUANSHU_CHECKPOINT_SECONDS": "3600"}
    pg = None
    try:
        if backend == "postgres":
            sys.path.insert(0, str(ROOT / "tests"))
            from pgserver import PgServer, find_bindir

            pg = PgServer(find_bindir()).start()
            env["SUANSHU_DATABASE_URL"] = pg.create_database("apiload")
        else:
            env.pop("SUANSHU_DATABASE_URL", None)
        token, contract = prepare(env, home)
        server = Server(env, home)
        try:
            for scenario in args.scenarios:
                for mode in ("open", "closed"):
                    print(json.dumps(run_scenario(server, token, contract, backend, scenario, mode, args),
                                     ensure_ascii=False), flush=True)
        finally:
            server.stop()
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s for search and component")
    p.add_argument("--query-rate", type=float, default=50.0, help="open-loop requests/s for query submit")
    p.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    p.add_argument("--home", type=Path, help="reuse a demo data dir (SQLite) instead of building one")
    p.add_argument("--scenarios", nargs="+", default=["search", "component", "query"],
                   choices=["search", "component", "query"])
    args = p.parse_args()
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        bench_backend(backend, args)


if __name__ == "__main__":
    main()
