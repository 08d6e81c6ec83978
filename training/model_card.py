"""Every saved model documents itself: a short README.md written beside its weights."""

from __future__ import annotations

from typing import Any

from training.report import summary_rows


def render_model_card(config: Any, training_facts: dict[str, Any], report: dict[str, Any]) -> str:
    data = training_facts["data"]
    rows = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in summary_rows(report))
    thresholds = ", ".join(f"`{n}` {t:.2f}" for n, t in zip(config.needs, config.need_thresholds, strict=True))
    temps = ", ".join(f"`{n}` {t:.2f}" for n, t in zip(config.needs, config.need_temperatures, strict=True))
    return f"""# needlens model `{config.model_version}`

Tags Chinese customer feedback with need levels ({", ".join(config.needs)}; multi-label) and a
complaint cause ({", ".join(config.causes)}; exactly one), label schema v{config.schema_version}.

- Base encoder: `{config.base_model}` {config.base_facts.get("base_package", "")} (fine-tuned end to end; heads: 3 sigmoids + 3-way softmax)
- Training data: `{data["path"]}`, {data["records"]} records, fingerprint `{data["fingerprint"][:16]}`
- Split: {training_facts["split"]["train"]} train / {training_facts["split"]["validation"]} validation (seed {training_facts["settings"]["seed"]}, stratified by cause)
- Best epoch: {training_facts["best_epoch"]} of {len(training_facts["history"])} run; training took {training_facts["seconds"]:.0f} s on {training_facts["device"]}{" (bfloat16 autocast)" if training_facts["bfloat16"] else ""}
- Need thresholds (tuned on validation for F1): {thresholds}
- Temperatures (fitted on validation): needs {temps}; cause `{config.cause_temperature:.2f}`
- Weight of the TF-IDF model in the document probabilities (fitted on validation; 0: not used): {config.lexical_weight:.2f}

## Validation figures

| figure | fine-tuned model | TF-IDF + LR baseline |
|---|---:|---:|
{rows}

These come from the validation split that also set the thresholds and temperatures, so they
are optimistic. Judge the model on text it has never seen: `needlens evaluate --model DIR --data FILE`.

## Use

`needlens label FILE -o OUT --model DIR`, or `classifier.inference.Predictor.load(DIR)`.
Loading needs only this directory and the installed base package. `baseline.joblib` is a
pickle of the TF-IDF model (the baseline, and part of the model when its weight is above 0):
load only model directories you trust.

## Limits

Trained on team-written feedback across service domains; real text differs in style.
Probabilities are calibrated on the validation split; calibration on other domains is not guaranteed.
"""
