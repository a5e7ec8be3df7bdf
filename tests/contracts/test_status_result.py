"""Status dict and result dict: placeholders, the "finished"/"error" convention, fixture shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.backends import BACKENDS
from contracts.result import JobResult, build_result, failed_result
from contracts.status import RECEIVED_DETAIL, JobStatus, StatusDict
from contracts.validation import validate_job
from tests.contracts.helpers import fixture

FERMIONS = BACKENDS["fermions"]


def test_status_strings_are_the_uppercase_client_strings() -> None:
    assert [s.value for s in JobStatus] == [
        "INITIALIZING", "QUEUED", "RUNNING", "DONE", "ERROR", "CANCELLED"]
    assert JobStatus.DONE.is_final and not JobStatus.QUEUED.is_final


def test_received_status_matches_the_real_post_job_response() -> None:
    real = fixture("qlued_v2_fermions_showcase.post_job.response.json")
    assert StatusDict(job_id=real["job_id"], status=JobStatus.INITIALIZING, detail=RECEIVED_DETAIL).model_dump(mode="json") == real


@pytest.mark.parametrize("name", [
    "qlued_v2_fermions_showcase.get_job_status.response.json",
    "qlue_legacy_fermions_external_user.get_job_status.response.json",
])
def test_real_status_responses_load(name: str) -> None:
    real = fixture(name)
    assert StatusDict.model_validate(real).model_dump(mode="json") == real


def test_none_placeholder_is_the_string_none() -> None:
    status = StatusDict(job_id="a1", status=JobStatus.QUEUED, detail=None, error_message=None)
    assert status.model_dump(mode="json")["error_message"] == "None"
    assert status.model_dump(mode="json")["detail"] == "None"


def test_status_rejects_unknown_states() -> None:
    with pytest.raises(ValidationError):
        StatusDict(job_id="a1", status="finished")


def _showcase_result() -> dict:
    payload = validate_job(FERMIONS, fixture("qlued_v2_fermions_showcase.job_load_measure.json"))
    return build_result("20230429_084630-fermions-fred-26af2", FERMIONS,
                        {"experiment_0": ["1 1 0 1"] * 4}, payload)


def test_build_result_matches_the_shape_of_the_qlued_fixture() -> None:
    real = fixture("qlued_v2_fermions_showcase.get_job_result.response.json")
    ours = _showcase_result()
    # qlued echoed the job as `experiments` (optional); sqooler >= 0.5 adds display_name.
    assert set(real) - {"experiments"} <= set(ours) <= set(real) | {"display_name"}
    assert (ours["status"], ours["success"], ours["qobj_id"], ours["header"]) == (
        "finished", True, None, {})
    [mine], [theirs] = ours["results"], real["results"]
    assert set(mine) == set(theirs)
    assert mine["header"]["name"] == theirs["header"]["name"] == "experiment_0"
    assert (mine["shots"], mine["success"]) == (theirs["shots"], theirs["success"])
    assert mine["data"]["memory"] == theirs["data"]["memory"]
    assert mine["data"]["instructions"][0] == {"name": "load", "wires": [7], "params": []}
    assert JobResult.model_validate(real).status == "finished"


def test_results_follow_numeric_experiment_order() -> None:
    raw = fixture("qlued_v2_fermions_showcase.job_hop_11_experiments.json")
    payload = validate_job(FERMIONS, raw)
    memories = {key: [f"{key} shot"] for key in reversed(payload.keys())}
    result = build_result("j", FERMIONS, memories, payload)
    names = [r["header"]["name"] for r in result["results"]]
    assert names == [f"experiment_{n}" for n in range(11)]
    assert result["results"][10]["data"]["memory"] == ["experiment_10 shot"]


def test_build_result_requires_memory_for_exactly_the_job_experiments() -> None:
    payload = validate_job(FERMIONS, fixture("qlued_v2_fermions_showcase.job_load_measure.json"))
    with pytest.raises(ValueError, match="missing"):
        build_result("j", FERMIONS, {}, payload)
    with pytest.raises(ValueError, match="extra"):
        build_result("j", FERMIONS, {"experiment_0": [], "experiment_1": []}, payload)


def test_failed_result_is_the_status_dict_with_lowercase_error() -> None:
    body = failed_result("j", "Got your json.", "experiment_0: shots ... [shots_limit]")
    assert body == {"job_id": "j", "status": "error", "detail": "Got your json.",
                    "error_message": "experiment_0: shots ... [shots_limit]"}
