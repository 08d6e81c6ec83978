"""schemathesis fuzzes the API from its own OpenAPI schema: no 5xx, and every answer as documented.

The default suite sends a few examples per operation; the slow variant many more.
"""

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from classifier.inference import Predictor
from classifier.settings import Settings
from serve.app import create_app


@pytest.fixture(scope="module")
def api_schema(toy_model, toy_data, tmp_path_factory):
    config = Settings(
        model_dir=toy_model[0],
        label_store=tmp_path_factory.mktemp("store") / "labels.db",
        default_data=[toy_data],  # a feedback batch the fuzzer completes is judged against the toy data
        max_items=8,
        api_max_chars=200,
        reload_poll_s=0,
    )
    app = create_app(config, Predictor.load(toy_model[0]))
    # a request over a documented limit (maxItems) is refused with 413, as the schema's responses say
    checks = {"checks": {"negative_data_rejection": {"expected-statuses": [400, 413, 415, 422]}}}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_dict(checks))
    readyz = schema["/readyz"]["GET"]
    for _ in range(400):  # the first call starts the app's lifespan; fuzz the loaded model, not "loading"
        if readyz.Case().call().status_code == 200:
            return schema
        time.sleep(0.05)
    raise AssertionError("the model did not load")


def fuzz(schema, data, mode: GenerationMode) -> None:
    case = data.draw(schema.as_strategy(mode))
    case.call_and_validate()


# Hypothesis drives schemathesis directly: its pytest loader (`from_fixture`) reads a private
# attribute that pytest 9 no longer has.
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_get_no_5xx_and_documented_answers(api_schema, mode, data):
    fuzz(api_schema, data, mode)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_many_fuzzed_requests_get_no_5xx_and_documented_answers(api_schema, mode, data):
    fuzz(api_schema, data, mode)
