"""The review UI's queue, labeling view, search and agreement pages through HTTP (no browser)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from classifier.labels import Labels
from label_loop.review_queue import QueuedText
from label_loop.store import NewLabel
from tests.serve.ui.conftest import prediction_entry, queue_of, sign_in

LONG_TEXT = "屏幕坏了要求换货。" + "没人告诉我进度心里很焦虑。"


def store_prediction(client: TestClient, text: str, **fields: object) -> int:
    prediction = {
        "needs": ["surface"],
        "need_probabilities": {"surface": 0.91, "emotional": 0.45, "growth": 0.02},
        "cause": "system_error",
        "cause_probabilities": {"system_error": 0.55, "perception_mismatch": 0.4, "none": 0.05},
        "needs_review": ["emotional"],
        "evidence": {"surface": [{"start": 2, "end": 4, "text": "坏了", "score": 0.3}]},
        "segments": [
            {"start": 0, "end": 9, "needs": ["surface"], "cause": "system_error"},
            {"start": 9, "end": len(LONG_TEXT), "needs": ["emotional"], "cause": "perception_mismatch"},
        ],
        **fields,
    }
    [stored_id] = client.app.state.service.predictions.add([prediction_entry(text, prediction)])
    return stored_id


def key_of(fragment: str) -> str:
    return re.search(r'data-key="([^"]*)"', fragment).group(1)


def save(client: TestClient, token: str, key: str, needs: str, cause: str):
    return client.post(f"/ui/queue/item/{key}", data={"csrf_token": token, "needs": needs, "cause": cause})


def test_a_stored_prediction_shows_its_labels_probabilities_evidence_and_segments(client):
    store_prediction(client, LONG_TEXT)
    sign_in(client, "ana")
    fragment = client.get("/ui/queue/next").text
    assert key_of(fragment) == "p1"
    assert '<mark class="ev ev-surface" title="surface −0.30">坏了</mark>' in fragment
    assert 'data-name="surface" data-key="1" aria-pressed="true"' in fragment
    assert 'data-name="emotional" data-key="2" aria-pressed="false"' in fragment
    assert 'data-name="system_error" data-key="q" aria-checked="true"' in fragment
    assert "91%" in fragment and "55%" in fragment and "unsure" in fragment  # emotional is in its review band
    assert "2 segments" in fragment and "没人告诉我进度心里很焦虑。" in fragment
    assert "model toy-1 (stored)" in fragment and "domain phones" in fragment


def test_a_damaged_stored_prediction_shows_what_is_sound_and_never_breaks_the_page(client):
    store_prediction(
        client,
        "屏幕坏了",
        need_probabilities={"surface": "high", "emotional": float("nan"), "growth": 7},
        evidence={"surface": [{"start": 3, "end": 99}, {"start": -1, "end": 2}, "junk", {"start": True, "end": 2}]},
        segments="not a list",
        cause_probabilities=None,
    )
    sign_in(client, "ana")
    fragment = client.get("/ui/queue/next")
    assert fragment.status_code == 200
    assert "<mark" not in fragment.text and "<meter" not in fragment.text and "屏幕坏了" in fragment.text


def test_a_queued_text_is_shown_with_what_the_served_model_says_of_it_now(client, predictor):
    queue_of(client.app).enqueue([QueuedText("想参与新功能共创", "suggest:s.csv", external_id="r-9")])
    sign_in(client, "ana")
    fragment = client.get("/ui/queue/next").text
    expected = predictor.predict(["想参与新功能共创"])[0]
    assert f"model {predictor.version} (now)" in fragment and "id r-9" in fragment
    for need in expected.needs:
        assert f'data-name="{need}" data-key' in fragment
        assert re.search(rf'data-name="{need}" data-key="\d" aria-pressed="true"', fragment)
    assert "<mark" in fragment  # the live view explains itself


def test_labeling_saves_review_events_and_moves_through_the_queue(client):
    queue_of(client.app).enqueue([QueuedText(t, "import:a.csv") for t in ("一号文本", "二号文本", "三号文本")])
    token = sign_in(client, "ana")
    seen = []
    for needs, cause in (("surface", "system_error"), ("emotional,growth", "none"), ("表层需求", "认知错位")):
        key = key_of(client.get("/ui/queue/next").text)
        seen.append(key)
        response = save(client, token, key, needs, cause)
        assert response.status_code == 200 and response.json()["action"] == "correct", response.text
    assert seen == ["t1", "t2", "t3"]
    assert 'data-empty="true"' in client.get("/ui/queue/next").text
    events = client.app.state.service.label_store().all_events()
    assert [(e.label.text, e.label.source, e.label.annotator) for e in events] == [
        ("一号文本", "review", "ana"),
        ("二号文本", "review", "ana"),
        ("三号文本", "review", "ana"),
    ]
    assert [n for n in events[1].label.labels.needs] == ["emotional", "growth"]
    assert str(events[2].label.labels.cause) == "perception_mismatch"  # Chinese names accepted


def test_accepting_the_models_labels_is_recorded_as_an_accept(client):
    store_prediction(client, "屏幕坏了")
    token = sign_in(client, "ana")
    key = key_of(client.get("/ui/queue/next").text)
    assert save(client, token, key, "surface", "system_error").json()["action"] == "accept"
    [event] = client.app.state.service.label_store().all_events()
    assert event.label.model_version == "toy-1"


def test_two_annotators_are_never_handed_the_same_item(client, other_client):
    queue_of(client.app).enqueue([QueuedText(t, "import:a.csv") for t in ("一号文本", "二号文本")])
    sign_in(client, "ana")
    sign_in(other_client, "bo")
    ana = key_of(client.get("/ui/queue/next").text)
    bo = key_of(other_client.get("/ui/queue/next").text)
    assert {ana, bo} == {"t1", "t2"}
    opened = other_client.get(f"/ui/queue/item/{ana}").text  # bo opens ana's item from a link: look, not save
    assert 'data-editable="false"' in opened and "ana is labeling this item" in opened
    waiting = client.get("/ui").text
    assert "<td>ana</td>" in waiting and "<td>bo</td>" in waiting  # the waiting list shows who holds what


def test_saving_an_item_another_annotator_holds_is_refused_on_the_server(client, other_client):
    queue_of(client.app).enqueue([QueuedText("安娜在标", "import:a.csv")])
    ana_token = sign_in(client, "ana")
    bo_token = sign_in(other_client, "bo")
    assert key_of(client.get("/ui/queue/next").text) == "t1"
    assert "ana is labeling this item" in other_client.get("/ui/queue/item/t1").text
    refused = save(other_client, bo_token, "t1", "growth", "none")  # sent without the page's disabled button
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "item_held" and "ana is labeling t1" in error["message"]
    assert error["details"] == {"holder": "ana"}
    assert client.app.state.service.label_store().count_events() == 0
    saved = save(client, ana_token, "t1", "surface", "none")  # the holder saves
    assert saved.status_code == 200 and saved.json()["crossed"] == []
    assert [e.label.annotator for e in client.app.state.service.label_store().all_events()] == ["ana"]


def test_a_correction_saved_by_two_annotators_at_once_keeps_both(client, other_client):
    queue_of(client.app).enqueue([QueuedText("都标了", "import:a.csv")])
    ana_token = sign_in(client, "ana")
    bo_token = sign_in(other_client, "bo")
    first = save(client, ana_token, "t1", "surface", "none")
    second = save(other_client, bo_token, "t1", "emotional", "none")
    assert first.status_code == second.status_code == 200
    assert second.json()["crossed"] == ["ana"] and "both labels are kept" in second.json()["message"]
    history = client.app.state.service.label_store().history("都标了")
    assert [(e.label.annotator, [str(n) for n in e.label.labels.needs]) for e in history] == [
        ("ana", ["surface"]),
        ("bo", ["emotional"]),
    ]


def test_invalid_labels_are_refused_naming_what_to_fix(client):
    queue_of(client.app).enqueue([QueuedText("一号文本", "import:a.csv")])
    token = sign_in(client, "ana")
    for needs, cause in (
        ("", "none"),
        ("surface", ""),
        ("surface", "bogus"),
        ("surface\x00", "none"),
        ("x" * 5000, "none"),
    ):
        response = save(client, token, "t1", needs, cause)
        assert response.status_code == 422, (needs, cause)
        assert "pick at least one need and exactly one cause" in response.json()["error"]["message"]
    for key in ("t99", "x1", "t1%00"):
        assert save(client, token, key, "surface", "none").status_code == 404
    assert client.app.state.service.label_store().count_events() == 0


def test_filters_narrow_the_queue_and_unknown_values_are_no_filter(client):
    store_prediction(client, "屏幕坏了")
    queue_of(client.app).enqueue([QueuedText("排队的文本", "import:a.csv")])
    sign_in(client, "ana")
    assert key_of(client.get("/ui/queue/next?source=queued").text) == "t1"
    assert key_of(client.get("/ui/queue/next?label=system_error").text) == "p1"
    assert 'data-empty="true"' in client.get("/ui/queue/next?label=growth").text
    assert 'data-empty="true"' in client.get("/ui/queue/next?model_version=other").text
    assert key_of(client.get("/ui/queue/next?source=%3Cscript%3E&label=%ED%A0%80").text) == "p1"
    page = client.get("/ui?source=queued&domain=phones")
    assert page.status_code == 200 and "/ui/queue/next?source=queued&amp;domain=phones" in page.text


def test_search_finds_predictions_labels_and_queued_texts_by_text_or_id_newest_first(client):
    store = client.app.state.service.label_store()
    store_prediction(client, "退款太慢了")
    queue_of(client.app).enqueue([QueuedText("退款什么时候到", "import:a.csv")])
    store.add(NewLabel("退款金额不对", Labels(needs=["surface"], cause="system_error"), "feedback", "cy"))
    sign_in(client, "ana")
    page = client.get("/ui", params={"q": "退款"}).text
    found = re.findall(r'<a href="/ui/item/([ptl][0-9]+)">', page)
    assert found == ["l1", "t1", "p1"]  # newest first
    assert re.findall(r'<a href="/ui/item/([ptl][0-9]+)">', client.get("/ui?q=ls-1").text) == ["l1"]
    assert re.findall(r'<a href="/ui/item/([ptl][0-9]+)">', client.get("/ui?q=P1").text) == ["p1"]
    assert "Nothing found" in client.get("/ui?q=%25_%00%ED%A0%80%FF" + "长" * 500).text


def test_a_label_found_by_search_opens_for_a_second_look(client):
    store = client.app.state.service.label_store()
    store.add(NewLabel("退款金额不对", Labels(needs=["surface"], cause="system_error"), "feedback", "cy"))
    token = sign_in(client, "ana")
    assert client.get("/ui/item/l1").status_code == 200
    fragment = client.get("/ui/queue/item/l1").text
    assert "label:feedback" in fragment and "ls-1" in fragment and "cy" in fragment
    assert save(client, token, "l1", "surface,emotional", "system_error").status_code == 200
    assert [e.label.annotator for e in store.history("退款金额不对")] == ["cy", "ana"]
    assert client.get("/ui/item/l99").status_code == 404


def test_the_agreement_page_shows_kappa_per_label_and_lists_disagreements(client):
    store = client.app.state.service.label_store()
    both = Labels(needs=["surface"], cause="system_error")
    for i in range(4):
        store.add(NewLabel(f"同意{i}", both, "review", "ana"))
        store.add(NewLabel(f"同意{i}", both, "review", "bo"))
    store.add(NewLabel("分歧", both, "review", "ana"))
    store.add(NewLabel("分歧", Labels(needs=["emotional"], cause="perception_mismatch"), "review", "bo"))
    store.add(NewLabel("只有一人", both, "review", "ana"))
    sign_in(client, "ana")
    page = client.get("/ui/agreement").text
    assert "<strong>5</strong> texts labeled by two annotators, <strong>1</strong> with different labels" in page
    assert "(cohen)" in page and "80%" in page  # cause raw agreement: 4 of 5
    assert "分歧" in page and "只有一人" not in page
    assert "/ui/item/l" in page  # each disagreement opens for adjudication


def test_the_model_page_shows_the_served_model_and_its_evaluation(client, predictor):
    sign_in(client, "ana")
    page = client.get("/ui/model").text
    assert predictor.version in page and "Cause confusion" in page and "v1" in page and "v2" in page
    assert "promote v1: first" in page


def test_a_torn_registry_log_is_a_notice_on_the_model_page_not_a_500(client):
    log = Path(client.app.state.service.settings.registry_dir) / "registry.jsonl"
    log.write_text(log.read_text(encoding="utf-8") + '{"at": "2026-', encoding="utf-8")
    sign_in(client, "ana")
    page = client.get("/ui/model")
    assert page.status_code == 200
    assert "registry.jsonl, line 2: not a JSON record" in page.text and "v2" in page.text


def test_an_incomplete_version_shows_why_on_the_model_page_and_is_not_offered_for_promotion(client):
    half = Path(client.app.state.service.settings.registry_dir) / "versions" / "v3"
    half.mkdir()
    (half / "config.json").write_text("{}", encoding="utf-8")
    sign_in(client, "root")
    page = client.get("/ui/model").text
    assert "incomplete: no model.safetensors (cannot be served or promoted)" in page
    assert '<option value="v3">' not in page and '<option value="v2">' in page


def test_the_monitor_page_shows_the_stored_predictions_figures(client):
    for i in range(3):
        store_prediction(client, f"屏幕坏了{i}")
    sign_in(client, "ana")
    page = client.get("/ui/monitor")
    assert page.status_code == 200
    assert "3 stored predictions read" in page.text and "Latest window per segment" in page.text
    assert 'src="data:image/png;base64,' in page.text  # the monitor extra is part of dev


def test_the_definitions_name_the_same_keys_as_the_labeling_view(client):
    store_prediction(client, "屏幕坏了")
    sign_in(client, "ana")
    page = client.get("/ui").text
    fragment = client.get("/ui/queue/next").text
    for name, key in re.findall(r'data-name="(\w+)" data-key="(\w)"', fragment):
        assert f"<kbd>{key}</kbd> {name} " in page, name
