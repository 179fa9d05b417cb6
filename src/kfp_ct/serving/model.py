"""The served model: a `kserve.Model` over an MLflow scikit-learn model directory.

The same class serves `deploy` target `local` and the project's ServingRuntime on a cluster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from kfp_ct.errors import PayloadError
from kfp_ct.serving.fastpath import CompiledPipeline, plain_columns
from kfp_ct.serving.protocol import (
    PREDICT_OUTPUT,
    PROBA_OUTPUT,
    FeatureSpec,
    v1_instances_to_frame,
    v2_inputs_to_frame,
)

log = logging.getLogger(__name__)
MAX_ROWS = 10_000
SINGLE_THREAD_ROWS = 1_000  # below this, OpenMP threads cost more than they save


def read_features(model_dir: Path) -> list[FeatureSpec]:
    """Input columns from the MLflow model signature (name and numeric or not)."""
    from kfp_ct.tracking.models import NUMERIC_SIGNATURE_TYPES, signature_columns

    return [FeatureSpec(name, kind in NUMERIC_SIGNATURE_TYPES) for name, kind in signature_columns(model_dir)]


def read_version(model_dir: Path) -> str | None:
    """The registry version of a model directory downloaded from the MLflow registry, if known."""
    import yaml

    meta = Path(model_dir) / "registered_model_meta"
    if not meta.exists():
        return None
    version = (yaml.safe_load(meta.read_text()) or {}).get("model_version")
    return None if version is None else str(version)


def _datatype(values: np.ndarray) -> str:
    if values.dtype.kind in "iu":
        return "INT64"
    if values.dtype.kind == "f":
        return "FP64"
    if values.dtype.kind == "b":
        return "BOOL"
    return "BYTES"


def _plain(values: np.ndarray) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


class SklearnMlflowModel(Model):
    """Serve predictions (and class probabilities) of an MLflow sklearn model over V1 and V2."""

    def __init__(self, name: str, model_dir: str | Path) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.model: Any = None
        self.features: list[FeatureSpec] = []
        self.classes: list | None = None
        self.version: str | None = None
        self.compiled: CompiledPipeline | None = None
        self._threads: Any = None
        self._numeric: set[str] = set()
        self._categorical: set[str] = set()

    def load(self) -> bool:
        """Load the pipeline and its input schema from the model directory."""
        from kfp_ct.tracking.models import load_model

        self.model = load_model(self.model_dir)
        self.features = read_features(self.model_dir)
        self.version = read_version(self.model_dir)
        classes = getattr(self.model, "classes_", None)
        self.classes = None if classes is None else _plain(np.asarray(classes))
        self.compiled = self._compile()
        self.ready = True
        log.info(
            "loaded %s from %s (%d features, %s path)",
            self.name,
            self.model_dir,
            len(self.features),
            "compiled" if self.compiled else "DataFrame",
        )
        return self.ready

    def _compile(self) -> CompiledPipeline | None:
        """The numpy fast path, when the pipeline and the signature agree on every column."""
        from threadpoolctl import ThreadpoolController

        self._threads = ThreadpoolController()
        compiled = CompiledPipeline.compile(self.model)
        if compiled is None:
            return None
        numeric = {f.name for f in self.features if f.numeric}
        other = {f.name for f in self.features if not f.numeric}
        if set(compiled.numeric) != numeric or set(compiled.categorical) != other:
            return None
        if (self.classes is not None) != hasattr(compiled.estimator, "predict_proba"):
            return None
        self._numeric, self._categorical = numeric, other
        return compiled

    def _limit_threads(self, rows: int) -> Any:
        """Single-threaded OpenMP/BLAS for small batches (the spin-up costs more than a row)."""
        if self._threads is None or rows >= SINGLE_THREAD_ROWS:
            return contextlib.nullcontext()
        return self._threads.limit(limits=1)

    def _run(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        if len(frame) > MAX_ROWS:
            raise InvalidInput(f"{len(frame)} rows in one request; the limit is {MAX_ROWS}")
        try:
            with self._limit_threads(len(frame)):
                predictions = np.asarray(self.model.predict(frame))
                proba = self.model.predict_proba(frame) if self.classes is not None else None
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the model could not score these rows: {exc}") from None
        return predictions, None if proba is None else np.asarray(proba, dtype="float64")

    def _run_compiled(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        compiled = self.compiled
        assert compiled is not None
        try:
            with self._limit_threads(len(matrix)):
                estimator = compiled.estimator
                proba = estimator.predict_proba(matrix) if self.classes is not None else None
                if proba is not None and compiled.proba_gives_predict:
                    predictions = np.asarray(estimator.classes_).take(np.argmax(proba, axis=1))
                else:
                    predictions = np.asarray(estimator.predict(matrix))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the model could not score these rows: {exc}") from None
        return predictions, None if proba is None else np.asarray(proba, dtype="float64")

    def _fast_matrix(self, request: InferRequest) -> np.ndarray | None:
        """The preprocessed rows of a plain V2 request; None sends it the generic way."""
        compiled = self.compiled
        if compiled is None:
            return None
        found = plain_columns(request.inputs, self._numeric, self._categorical, MAX_ROWS)
        return None if found is None else compiled.encode(*found)

    def _decode_v2(self, request: InferRequest) -> pd.DataFrame:
        inputs = []
        for item in request.inputs:
            raw = getattr(item, "_raw_data", None) is not None
            data = item.as_numpy().reshape(-1).tolist() if raw else item.data
            inputs.append(
                {
                    "name": item.name,
                    "shape": list(item.shape),
                    "datatype": item.datatype,
                    "data": data,
                }
            )
        return v2_inputs_to_frame(inputs, self.features)

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        """Score a V2 InferRequest or a V1 `{"instances": [...]}` body."""
        try:
            if isinstance(payload, InferRequest):
                return self._predict_v2(payload)
            if not isinstance(payload, dict) or "instances" not in payload:
                raise InvalidInput('a V1 request body must be a JSON object with "instances"')
            return self._predict_v1(payload["instances"])
        except PayloadError as exc:
            raise InvalidInput(str(exc)) from None

    def _predict_v1(self, instances: Any) -> dict:
        predictions, proba = self._run(v1_instances_to_frame(instances, self.features))
        body: dict[str, Any] = {"predictions": _plain(predictions)}
        if proba is not None:
            body["probabilities"] = proba.tolist()
            body["classes"] = self.classes
        return body

    def _predict_v2(self, request: InferRequest) -> InferResponse:
        matrix = self._fast_matrix(request)
        if matrix is not None:
            predictions, proba = self._run_compiled(matrix)
        else:
            predictions, proba = self._run(self._decode_v2(request))
        outputs = [
            InferOutput(PREDICT_OUTPUT, [len(predictions)], _datatype(predictions), _plain(predictions))
        ]
        if proba is not None:
            outputs.append(
                InferOutput(
                    PROBA_OUTPUT,
                    list(proba.shape),
                    "FP64",
                    proba.reshape(-1).tolist(),
                    parameters={"classes": json.dumps(self.classes)},
                )
            )
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=self.version,
            infer_outputs=outputs,
        )
