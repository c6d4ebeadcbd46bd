"""No object pickled into a pipeline's graph holds the API key: the backend reads it on the worker.

Every transform of all five pipelines, built with ``--backend openai`` and ``OPENAI_API_KEY`` set,
is pickled as Beam would ship it (cloudpickle, uncompressed here so the bytes can be searched),
and the serialized pipeline proto too."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal.cloudpickle import cloudpickle  # the pickler Beam ships DoFns with
from apache_beam.pipeline import PipelineVisitor

from generators.backends.handle import BackendHandle
from pipelines.code_cot import build_code_cot
from pipelines.config import build_config
from pipelines.expand import build_expand
from pipelines.label import build_label
from pipelines.lean_cot import build_lean_cot
from pipelines.runner import RunContext, pipeline_options
from pipelines.settings import backend_config
from pipelines.tag import build_tag
from tests.cluster import cases
from tests.pipelines.io.test_filesystem_guard import git_repo

SECRET = "sk-reverse-o1-canary-7f3a9c"
BUILDERS = {"tag": build_tag, "label": build_label, "expand": build_expand, "lean-cot": build_lean_cot,
            "code-cot": build_code_cot}


class _Transforms(PipelineVisitor):
    def __init__(self) -> None:
        self.found: list[beam.PTransform] = []

    def visit_transform(self, node) -> None:  # noqa: ANN001 - Beam's AppliedPTransform
        self.found.append(node.transform)


@pytest.mark.parametrize("name", cases.PIPELINES)
def test_no_pickled_object_holds_the_api_key(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    inputs = cases.upload_inputs(str(tmp_path / "in"))
    flags = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "out": str(tmp_path / "out"),
             "input": {"tag": [inputs["cot"]], "label": [inputs["seeds"]], "expand": [inputs["seeds"]],
                       "lean-cot": [inputs["lean"]], "code-cot": []}[name],
             "column": "answer", "tagger": "llm", "repo_cache": str(tmp_path / "cache")}
    if name == "code-cot":
        flags["repo"] = [git_repo(tmp_path / "repo")]
    config = build_config(flags)
    pipeline = beam.Pipeline(options=pipeline_options([]))
    ctx = RunContext(name, config.out, f"{name}-test", pipeline, BackendHandle(backend_config(config)))
    BUILDERS[name](pipeline, config, ctx)
    visitor = _Transforms()
    pipeline.visit(visitor)
    pickled = [cloudpickle.dumps(t) for t in visitor.found]
    assert len(pickled) > 5 and any(b"BackendHandle" in p for p in pickled), "the handle must be among them"
    assert not [t for t, p in zip(visitor.found, pickled, strict=True) if SECRET.encode() in p]
    assert SECRET.encode() not in pipeline.to_runner_api().SerializeToString()
