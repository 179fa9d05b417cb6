"""Training-set policy and retraining guards (cooldown and data de-duplication).

The guards work on plain model-version records so they can be tested without MLflow::

    {"version": "3",
     "tags": {"kfp_ct.data_hash": "...", "kfp_ct.trained_at": "2026-11-21T08:00:00Z"},
     "creation_timestamp": 1763712000000}

``fetch_model_versions`` builds those records from an ``MlflowClient``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pandas as pd

from kfp_ct.errors import DataError, ParameterError
from kfp_ct.lineage import DATA_HASH, TRAINED_AT

Policy = Literal["all", "sliding", "new"]
POLICIES: tuple[str, ...] = ("all", "sliding", "new")


def build_training_set(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    policy: Policy = "all",
    max_rows: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Build the retraining set from the reference data and the new window.

    Policies: ``all`` = reference + window (a seeded random sample of ``max_rows`` rows when
    larger, order kept); ``sliding`` = the newest ``max_rows`` rows of reference + window (the
    window is newest; ``max_rows`` required); ``new`` = the window only (its newest ``max_rows``).

    Args:
        reference: data the champion was trained on (oldest first).
        window: the new data window (oldest first).
        policy: ``all``, ``sliding`` or ``new``.
        max_rows: row cap, or None for no cap.
        seed: random seed for the ``all`` sample.

    Returns:
        A new frame with a fresh RangeIndex and the reference's column order.

    Raises:
        ParameterError: unknown policy, or a bad ``max_rows``.
        DataError: the window lacks reference columns.
    """
    if policy not in POLICIES:
        raise ParameterError(f"unknown training-set policy {policy!r}: use one of {POLICIES}")
    if max_rows is not None and max_rows <= 0:
        raise ParameterError(f"max_rows must be a positive integer, got {max_rows}")
    if policy == "sliding" and max_rows is None:
        raise ParameterError("policy 'sliding' needs max_rows (the window length in rows)")
    missing = [c for c in reference.columns if c not in window.columns]
    if missing:
        raise DataError(f"the new window lacks column(s) {missing} present in the reference data")
    window = window[list(reference.columns)]
    if policy == "new":
        out = window if max_rows is None else window.tail(max_rows)
    else:
        out = pd.concat([reference, window], ignore_index=True)
        if max_rows is not None and len(out) > max_rows:
            if policy == "sliding":
                out = out.tail(max_rows)
            else:
                out = out.sample(n=max_rows, random_state=seed).sort_index()
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class GuardResult:
    """Outcome of the retraining guards; ``skip`` is True when any guard blocks retraining."""

    skip: bool
    reasons: list[str] = field(default_factory=list)
    cooldown_active: bool = False
    duplicate_of: str | None = None  # model version already trained on this data hash
    last_trained_at: str | None = None  # ISO-8601 UTC of the newest version

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return asdict(self)


def _as_utc(value: Any) -> datetime | None:
    """Parse an ISO-8601 string, epoch milliseconds or datetime into an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float):
        dt = datetime.fromtimestamp(float(value) / 1000.0, tz=UTC)
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _trained_at(record: Mapping[str, Any]) -> datetime | None:
    tags = record.get("tags") or {}
    return _as_utc(tags.get(TRAINED_AT)) or _as_utc(record.get("creation_timestamp"))


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_guards(
    versions: Iterable[Mapping[str, Any]],
    data_hash: str | None,
    *,
    now: datetime | None = None,
    cooldown_hours: float = 0.0,
) -> GuardResult:
    """Check the cooldown and de-duplication guards against existing model versions.

    Args:
        versions: model-version records (``version``, ``tags``, ``creation_timestamp``); the
            training time is the ``kfp_ct.trained_at`` tag, else the creation time.
        data_hash: hash of the data about to be trained on (compared with ``kfp_ct.data_hash``
            tags), or None to skip de-duplication.
        now: current time (aware or UTC-naive); defaults to the clock.
        cooldown_hours: no retraining within this many hours of the newest version; 0 disables.

    Returns:
        A GuardResult whose reasons state each guard's outcome, blocking or not.
    """
    if cooldown_hours < 0:
        raise ParameterError(f"cooldown_hours must be >= 0, got {cooldown_hours}")
    now_utc = _as_utc(now) if now is not None else datetime.now(UTC)
    assert now_utc is not None
    records = list(versions)
    reasons: list[str] = []
    skip = False

    duplicate = None
    if data_hash:
        for rec in records:
            if (rec.get("tags") or {}).get(DATA_HASH) == data_hash:
                duplicate = str(rec.get("version"))
                break
        if duplicate is not None:
            skip = True
            reasons.append(
                f"duplicate data: window hash {data_hash[:12]} was already trained on "
                f"(model version {duplicate})"
            )
        else:
            reasons.append(f"new data: window hash {data_hash[:12]} not trained on before")

    dated = [(t, rec) for rec in records if (t := _trained_at(rec)) is not None]
    last = max(dated, key=lambda pair: pair[0]) if dated else None
    cooldown_active = False
    if last is not None and cooldown_hours > 0:
        age_h = (now_utc - last[0]).total_seconds() / 3600.0
        version = last[1].get("version")
        if age_h < cooldown_hours:
            cooldown_active = skip = True
            until = _iso(last[0] + timedelta(hours=cooldown_hours))
            reasons.append(
                f"cooldown: last retrain {age_h:.1f} h ago (model version {version}) is within "
                f"the {cooldown_hours:g} h cooldown; next retrain allowed after {until}"
            )
        else:
            reasons.append(
                f"cooldown passed: last retrain {age_h:.1f} h ago (model version {version}) "
                f">= {cooldown_hours:g} h"
            )
    elif cooldown_hours > 0:
        reasons.append("cooldown passed: no earlier model version")
    return GuardResult(
        skip=skip,
        reasons=reasons,
        cooldown_active=cooldown_active,
        duplicate_of=duplicate,
        last_trained_at=_iso(last[0]) if last else None,
    )
