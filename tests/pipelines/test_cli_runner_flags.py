"""Every Beam runner's options reach Beam unchanged; typos are refused with one line."""

from __future__ import annotations

import argparse

import pytest

import pipelines.cli as cli
from pipelines.cli import unknown_to_beam
from tests.pipelines.helpers import replace_run

# flags a user of Dataflow, Flink, Spark, a portable job server, S3 or the DirectRunner passes
RUNNER_FLAGS = [
    "--runner=DataflowRunner",
    "--job_endpoint=jobs:8099",
    "--environment_type=EXTERNAL",
    "--environment_config=workers:50000",
    "--sdk_container_image=registry.example/reverse-o1-worker:0.1.0",
    "--temp_location=gs://bucket/tmp",
    "--staging_location=gs://bucket/staging",
    "--flink_master=flink:8081",
    "--flink_version=1.19",
    "--spark_master_url=spark://spark:7077",
    "--s3_endpoint_url=http://127.0.0.1:9000",
    "--s3_access_key_id=key",
    "--s3_secret_access_key=secret",
    "--s3_region_name=us-east-1",
    "--project=my-project",
    "--region=europe-west4",
    "--machine_type=n2-standard-4",
    "--worker_machine_type=g2-standard-8",
    "--num_workers=2",
    "--max_num_workers=10",
    "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
    "--experiments=use_runner_v2",
    "--setup_file=./setup.py",
    "--requirements_file=requirements.txt",
    "--extra_package=dist/reverse_o1-0.1.0.tar.gz",
    "--save_main_session",
    "--sdk_worker_parallelism=2",
    "--direct_num_workers=2",
    "--direct_running_mode=multi_processing",
]


@pytest.mark.parametrize("flag", RUNNER_FLAGS)
def test_runner_flag_is_a_beam_option(flag: str) -> None:
    assert unknown_to_beam([flag]) == []


def test_runner_flags_with_separate_values() -> None:
    args = []
    for flag in RUNNER_FLAGS:
        name, _, value = flag.partition("=")
        args += [name, value] if value else [name]
    assert unknown_to_beam(args) == []


def test_values_are_not_checked_here() -> None:
    # a bad value is Beam's to report when the pipeline starts; this check must not exit on it
    assert unknown_to_beam(["--flink_version=0.1", "--num_workers=many", "--render_port", "-1"]) == []


@pytest.mark.parametrize("typo", ["--runnr=DirectRunner", "--flink_mastr", "--temp_locaton=gs://b/t", "--s3_endpoint=x",
                                  "--direct-num-workers=2", "--runn=DirectRunner", "-x"])
def test_typo_is_reported_as_given(typo: str) -> None:
    assert unknown_to_beam(["--runner=DirectRunner", typo, "--num_workers", "2"]) == [typo]


@pytest.mark.parametrize("runner", ["FlinkRunner", "flink", "SparkRunner", "PortableRunner", "PrismRunner",
                                    "apache_beam.runners.portability.flink_runner.FlinkRunner"])
def test_job_server_options_pass_on_with_a_note(runner: str, capsys: pytest.CaptureFixture[str]) -> None:
    # a job server describes options of its own (Flink's checkpointing ones) only at submission
    args = ["--runner", runner, "--checkpointing_interval=60000", "--runnr=x", "--flink_mastr", "h:8081"]
    assert unknown_to_beam(args) == ["--runnr=x", "--flink_mastr"]
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--checkpointing_interval" in err and runner in err


@pytest.mark.parametrize("runner", ["DirectRunner", "DataflowRunner"])
def test_other_runners_refuse_every_unknown_flag(runner: str) -> None:
    assert unknown_to_beam([f"--runner={runner}", "--checkpointing_interval=60000"]) == ["--checkpointing_interval=60000"]


def test_everything_after_double_dash_is_not_a_flag() -> None:
    assert unknown_to_beam(["--runner=DirectRunner", "--", "--whatever"]) == []


@pytest.mark.parametrize("command", [["tag", "--input", "x.jsonl", "--column", "cot"], ["label", "--input", "x.jsonl"],
                                     ["expand", "--seeds", "x.jsonl"], ["lean-cot", "--input", "x.json"],
                                     ["code-cot", "--repo", "."], ["demo"]])
def test_main_hands_runner_flags_to_the_command_unchanged(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake(args: argparse.Namespace, unknown: list[str]) -> int:
        seen.append(unknown)
        return 0

    replace_run(monkeypatch, command[0], fake)
    assert cli.main([*command, "--out", "gs://bucket/run", *RUNNER_FLAGS]) == 0
    assert seen == [RUNNER_FLAGS]


def test_main_refuses_a_typo_with_exit_2_and_one_error_line(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    called: list[str] = []
    replace_run(monkeypatch, "tag", lambda args, unknown: called.append("ran") or 0)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tag", "--input", "x.jsonl", "--column", "cot", "--runnr=DataflowRunner", "--project=p"])
    assert exit_info.value.code == 2 and called == []
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1 and "--runnr=DataflowRunner" in errors[0] and "--project" not in errors[0]
    assert err[-1] == errors[0]
