"""One served model version: a `kserve.Model` over an MLflow scikit-learn model directory.

The same class serves deploy target `local` (several versions under one name, see
`kfp_ct.serving.router`) and the project's ServingRuntime on a cluster. It holds nothing that
cannot be pickled after `load()` (KServe pickles the server with its models for `--workers N`):
the thread-pool controller lives in this module, once per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
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
    MAX_ROWS,
    PREDICT_OUTPUT,
    PROBA_OUTPUT,
    SIGNATURE_DATATYPES,
    VERSION_HEADER,
    FeatureSpec,
    v1_instances_to_frame,
    v2_inputs_to_frame,
)

log = logging.getLogger(__name__)
SINGLE_THREAD_ROWS = 1_000  # below this, OpenMP threads cost more than they save
UNVERSIONED = "unversioned"


class _Threads:
    """This process's OpenMP/BLAS thread pools (threadpoolctl).

    A server process runs single-threaded (`serve_single_threaded`) and widens the pools for big
    batches only; elsewhere (tests, notebooks) each small batch is narrowed. Two traps, measured:
    OpenMP's thread count is per calling thread, so the limit is applied by the thread that
    predicts (the event loop's), and it only reaches runtimes already loaded, so it is applied
    again after a model is loaded (a new estimator may bring its own runtime). Unlimited, two
    OpenMP threads on two busy cores made a single-row predict take 30-900 ms instead of 1-2 ms.
    Entering a limit costs about 25 us, so a single-row request in a server enters none.
    """

    controller: Any = None
    widest = 1
    server = False
    loads = 0  # models loaded in this process
    applied = -1  # `loads` when the server's limit was last applied

    @classmethod
    def _get(cls) -> Any:
        if cls.controller is None:
            from threadpoolctl import ThreadpoolController

            cls.controller = ThreadpoolController()
            cls.widest = max([cls.widest, *(p.num_threads for p in cls.controller.lib_controllers)])
        return cls.controller

    @classmethod
    def serve_single_threaded(cls) -> None:
        """Make this (server) process's predicting thread single-threaded from now on."""
        import sklearn.utils._openmp_helpers  # noqa: F401 - load scikit-learn's OpenMP runtime first

        cls.server = True
        cls._apply()

    @classmethod
    def _apply(cls) -> None:
        cls.controller = None  # a fresh look at the runtimes loaded by now
        cls.applied = cls.loads
        cls._get().limit(limits=1)  # applied now, never restored

    @classmethod
    def loaded(cls) -> None:
        """A model was loaded (in any thread): the next request applies the limit again."""
        cls.loads += 1

    @classmethod
    def for_rows(cls, rows: int) -> Any:
        """A context manager that sizes the pools for a batch of `rows` (call it where you predict)."""
        if cls.server:
            if cls.applied != cls.loads:
                cls._apply()
            if rows >= SINGLE_THREAD_ROWS:
                return cls._get().limit(limits=cls.widest)
            return contextlib.nullcontext()
        return cls._get().limit(limits=1) if rows < SINGLE_THREAD_ROWS else contextlib.nullcontext()


serve_single_threaded = _Threads.serve_single_threaded


def read_signature(model_dir: Path) -> list[tuple[str, str]]:
    """(name, MLflow type) of each input column in the model's signature."""
    from kfp_ct.tracking.models import signature_columns

    return signature_columns(model_dir)


def read_features(model_dir: Path) -> list[FeatureSpec]:
    """Input columns from the MLflow model signature (name, numeric or not, V2 datatype)."""
    from kfp_ct.tracking.models import NUMERIC_SIGNATURE_TYPES

    return [
        FeatureSpec(name, kind in NUMERIC_SIGNATURE_TYPES, SIGNATURE_DATATYPES.get(kind, "BYTES"))
        for name, kind in read_signature(model_dir)
    ]


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


def _decode_bytes(request: InferRequest) -> None:
    """BYTES inputs as text (gRPC carries them as bytes), so that they can take the fast path."""
    for item in request.inputs:
        data = item.data
        if item.datatype == "BYTES" and type(data) is list and any(type(v) is bytes for v in data):
            try:
                item.data = [v.decode("utf-8") if type(v) is bytes else v for v in data]
            except UnicodeDecodeError:
                return  # the generic path names the input


class SklearnMlflowModel(Model):
    """Serve predictions (and class probabilities) of one MLflow sklearn model version, V1 and V2."""

    def __init__(self, name: str, model_dir: str | Path, version: str | None = None) -> None:
        super().__init__(name, return_response_headers=True)
        self.model_dir = Path(model_dir)
        self.version = version
        self.model: Any = None
        self.features: list[FeatureSpec] = []
        self.classes: list | None = None
        self.compiled: CompiledPipeline | None = None
        self._numeric: set[str] = set()
        self._categorical: set[str] = set()

    def load(self) -> bool:
        """Load the pipeline and its input schema from the model directory."""
        from kfp_ct.tracking.models import load_model

        self.model = load_model(self.model_dir)
        self.features = read_features(self.model_dir)
        self.version = self.version or read_version(self.model_dir) or UNVERSIONED
        classes = getattr(self.model, "classes_", None)
        self.classes = None if classes is None else _plain(np.asarray(classes))
        self.compiled = self._compile()
        _Threads.loaded()
        self.ready = True
        log.info(
            "loaded %s v%s from %s (%d features, %s path)",
            self.name,
            self.version,
            self.model_dir,
            len(self.features),
            "compiled" if self.compiled else "DataFrame",
        )
        return self.ready

    def _compile(self) -> CompiledPipeline | None:
        """The numpy fast path, when the pipeline and the signature agree on every column."""
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

    # ------------------------------------------------------------ metadata
    @property
    def output_names(self) -> list[str]:
        """The outputs this model answers with, in order."""
        return [PREDICT_OUTPUT] if self.classes is None else [PREDICT_OUTPUT, PROBA_OUTPUT]

    def get_input_types(self) -> list[dict]:
        """V2 metadata of every input: one `[rows]` tensor per signature column."""
        return [{"name": f.name, "datatype": f.datatype, "shape": [-1]} for f in self.features]

    def get_output_types(self) -> list[dict]:
        """V2 metadata of every output."""
        if self.classes is None:
            return [{"name": PREDICT_OUTPUT, "datatype": "FP64", "shape": [-1]}]
        label = _datatype(np.asarray(self.classes))
        return [
            {"name": PREDICT_OUTPUT, "datatype": label, "shape": [-1]},
            {"name": PROBA_OUTPUT, "datatype": "FP64", "shape": [-1, len(self.classes)]},
        ]

    # ------------------------------------------------------------ scoring
    def _run(self, frame: pd.DataFrame, want: set[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
        if len(frame) > MAX_ROWS:
            raise InvalidInput(f"{len(frame)} rows in one request; the limit is {MAX_ROWS}")
        try:
            with _Threads.for_rows(len(frame)):
                predictions = np.asarray(self.model.predict(frame)) if PREDICT_OUTPUT in want else None
                proba = self.model.predict_proba(frame) if PROBA_OUTPUT in want else None
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the model could not score these rows: {exc}") from None
        return predictions, None if proba is None else np.asarray(proba, dtype="float64")

    def _run_compiled(
        self, matrix: np.ndarray, want: set[str] = frozenset((PREDICT_OUTPUT, PROBA_OUTPUT))
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        compiled = self.compiled
        assert compiled is not None
        try:
            with _Threads.for_rows(len(matrix)):
                return compiled.run(matrix, PREDICT_OUTPUT in want, PROBA_OUTPUT in want)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"the model could not score these rows: {exc}") from None

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

    def wanted(self, requested: Sequence[Any] | None) -> list[str]:
        """The output names a request asks for (all when it names none); InvalidInput if unknown."""
        if not requested:
            return self.output_names
        names = [o.name for o in requested]
        unknown = [n for n in names if n not in self.output_names]
        if unknown:
            raise InvalidInput(f"unknown outputs {unknown}; this model has outputs {self.output_names}")
        return list(dict.fromkeys(names))

    def infer_outputs(self, request: InferRequest) -> list[InferOutput]:
        """Score a V2 request; the outputs it asks for (`outputs`), or all of them."""
        names = self.wanted(request.request_outputs)
        want = set(names)
        _decode_bytes(request)
        try:
            matrix = self._fast_matrix(request)
            if matrix is not None:
                predictions, proba = self._run_compiled(matrix, want)
            else:
                predictions, proba = self._run(self._decode_v2(request), want)
        except PayloadError as exc:
            raise InvalidInput(str(exc)) from None
        outputs = {}
        if predictions is not None:
            outputs[PREDICT_OUTPUT] = InferOutput(
                PREDICT_OUTPUT, [len(predictions)], _datatype(predictions), _plain(predictions)
            )
        if proba is not None:
            outputs[PROBA_OUTPUT] = InferOutput(
                PROBA_OUTPUT,
                list(proba.shape),
                "FP64",
                proba.reshape(-1).tolist(),
                parameters={"classes": json.dumps(self.classes)},
            )
        return [outputs[n] for n in names]

    def infer(self, request: InferRequest) -> InferResponse:
        """Score a V2 request into a KServe InferResponse (gRPC, binary REST, KServe's handlers)."""
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=self.version,
            infer_outputs=self.infer_outputs(request),
            requested_outputs=request.request_outputs,
            use_binary_outputs=request.use_binary_outputs,
        )

    def predict_v1(self, instances: Any) -> dict:
        """Score V1 `instances` (records or positional rows)."""
        try:
            frame = v1_instances_to_frame(instances, self.features)
        except PayloadError as exc:
            raise InvalidInput(str(exc)) from None
        predictions, proba = self._run(frame, set(self.output_names))
        assert predictions is not None
        body: dict[str, Any] = {"predictions": _plain(predictions)}
        if proba is not None:
            body["probabilities"] = proba.tolist()
            body["classes"] = self.classes
        return body

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        """Score a V2 InferRequest or a V1 `{"instances": [...]}` body (KServe's handlers)."""
        if response_headers is not None:
            response_headers[VERSION_HEADER] = str(self.version)
        if isinstance(payload, InferRequest):
            return self.infer(payload)
        if not isinstance(payload, dict) or "instances" not in payload:
            raise InvalidInput('a V1 request body must be a JSON object with "instances"')
        return self.predict_v1(payload["instances"])
