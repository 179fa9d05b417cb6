"""Ground truth for captured traffic: labels keyed by request id, recorded once.

`record_labels` checks a labels table against the capture store of one model and writes the new
labels as one file under `<capture_uri>/<model>/feedback/`, named by its content's hash, so
sending the same file again writes nothing. Every row is accounted for: recorded, already
recorded, a duplicate in the file, a conflict (another label for a labelled id: never
overwritten), an unknown id, a missing label or a label of the wrong type. A file with nothing
usable raises DataError naming the problem, and the store is left as it was.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from kfp_ct.capture import store
from kfp_ct.errors import DataError


@dataclass
class FeedbackResult:
    """What became of each row of a labels file."""

    model: str
    received: int
    recorded: int = 0
    already_recorded: int = 0
    duplicates: int = 0
    conflicts: int = 0
    unknown_ids: int = 0
    missing_labels: int = 0
    type_mismatches: int = 0
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def render(self) -> str:
        """One line for the terminal."""
        counts = {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "received" and v}
        listed = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()) or "nothing new"
        return f"feedback for '{self.model}': {self.received} rows: {listed}"


def _coerce(labels: pd.Series, predictions: pd.Series) -> pd.Series:
    """Labels in the predictions' type; NaN where a label cannot be one (a type mismatch)."""
    kind = predictions.dropna().infer_objects().dtype.kind if predictions.notna().any() else "O"
    if kind in "iufb":
        numbers = pd.to_numeric(labels, errors="coerce")
        if kind in "iub":
            numbers = numbers.where(numbers.isna() | (numbers == numbers.round()))
            return numbers.astype("Int64")
        return numbers.astype("float64")
    return labels.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore")


def record_labels(
    labels: pd.DataFrame,
    uri: str,
    model: str,
    id_column: str = "request_id",
    label_column: str = "label",
    source: str = "labels",
) -> FeedbackResult:
    """Record the labels of `labels` for captured requests of `model`; what became of each row."""
    if labels.empty:
        raise DataError(f"{source}: no rows; nothing to record")
    for column, flag in ((id_column, "--id-column"), (label_column, "--label-column")):
        if column not in labels.columns:
            raise DataError(
                f"{source}: no column '{column}' ({flag}); columns: {', '.join(map(str, labels.columns))}"
            )
    result = FeedbackResult(model, len(labels))
    frame = pd.DataFrame({store.REQUEST_ID: labels[id_column], store.LABEL: labels[label_column]})
    frame = frame[frame[store.REQUEST_ID].notna()]
    frame[store.REQUEST_ID] = frame[store.REQUEST_ID].astype(str)
    captured = store.read_capture(uri, model, columns=[store.PREDICTION, store.STATUS])
    if captured.empty:
        raise DataError(f"no captured traffic for model '{model}' under {uri}; nothing to label")
    answered = captured[captured[store.STATUS] == 200].drop_duplicates(store.REQUEST_ID)
    known = frame[store.REQUEST_ID].isin(answered[store.REQUEST_ID])
    result.unknown_ids = int((~known).sum()) + (len(labels) - len(frame))
    if not known.any():
        sample = ", ".join(frame[store.REQUEST_ID].head(3))
        raise DataError(f"{source}: none of the {len(labels)} request ids is a captured request of '{model}' "
                        f"(e.g. {sample}); check --model and --id-column")  # fmt: skip
    frame = frame[known]
    missing = frame[store.LABEL].isna()
    result.missing_labels = int(missing.sum())
    frame = frame[~missing]
    typed = _coerce(frame[store.LABEL], answered[store.PREDICTION])
    mismatch = typed.isna()
    result.type_mismatches = int(mismatch.sum())
    if len(frame) and mismatch.all():
        example = frame[store.LABEL].iloc[0]
        kind = answered[store.PREDICTION].dropna().infer_objects().dtype
        raise DataError(
            f"{source}: column '{label_column}' holds {type(example).__name__} values like {example!r}; "
            f"the model predicts {kind} labels"
        )
    frame = frame.assign(**{store.LABEL: typed})[~mismatch]
    first = frame.drop_duplicates(store.REQUEST_ID)
    repeated = frame[frame.duplicated(store.REQUEST_ID, keep="first")]
    clash = repeated.merge(first, on=store.REQUEST_ID, suffixes=("", "_first"))
    result.conflicts += int((clash[store.LABEL] != clash[f"{store.LABEL}_first"]).sum())
    result.duplicates = len(repeated) - result.conflicts
    existing = store.read_feedback(uri, model)
    before = existing.drop_duplicates(store.REQUEST_ID).set_index(store.REQUEST_ID)[store.LABEL]
    seen = first[store.REQUEST_ID].isin(before.index)
    old = first[seen]
    same = old[store.LABEL].astype(str).to_numpy() == before.loc[old[store.REQUEST_ID]].astype(str).to_numpy()
    result.already_recorded = int(same.sum())
    result.conflicts += int((~same).sum())
    new = first[~seen]
    if len(new) == 0 and not result.already_recorded and not result.duplicates:
        raise DataError(f"{source}: no usable label rows ({result.render()})")
    if len(new):
        new = new.assign(**{store.RECEIVED_AT: datetime.now(UTC)})
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(new[[store.REQUEST_ID]], index=False).values
        ).hexdigest()
        result.path = store.write_feedback(uri, model, new, digest[:32])
        result.recorded = len(new)
    return result
