"""Every error kfp-ct raises for a user, in one place.

The CLI prints a `KfpCtError`'s message on one line and exits with its `exit_code`; anything else
is a bug. Each message says what is wrong (file, column, value, service) and what to do next.
"""


class KfpCtError(Exception):
    """Base class for failures with a message that says what is wrong and what to do next."""

    exit_code = 2


# ---------------------------------------------------------------- input
class DataError(KfpCtError):
    """An input file cannot be read or does not have the shape the pipeline needs."""


class ValidationFailed(DataError):
    """The dataset has error-level violations; the message lists each one."""


class ParameterError(KfpCtError):
    """A parameter value is unknown, malformed or out of range."""


class PayloadError(KfpCtError, ValueError):
    """A request body does not match the model's input schema (the server answers 400)."""


# ---------------------------------------------------------------- services
class ServiceUnavailable(KfpCtError):
    """A service (MLflow, Kubernetes) kept failing after every retry."""


class RemoteError(KfpCtError):
    """The KFP API cannot be reached, refuses us, or answers an error."""


class RunFailedError(KfpCtError):
    """A followed run ended in a state other than SUCCEEDED/SKIPPED, or timed out."""

    exit_code = 1


class PipelineFailed(KfpCtError):
    """A local pipeline step failed; the message names the step and the cause."""


# ---------------------------------------------------------------- registry
class ChampionMoved(KfpCtError):
    """Another run moved `champion` after this run compared against it."""


class PromotionLocked(KfpCtError):
    """Another run held the promotion lock for longer than this run would wait."""


# ---------------------------------------------------------------- serving and deploy
class ServingError(KfpCtError):
    """A model server did not become ready or answered a request with an error."""


class DeployError(KfpCtError):
    """A rollout failed; the previous model is serving again. The message names the cause."""


class ClusterError(KfpCtError):
    """A cluster precondition failed: missing RBAC, an unusable storage URI, a bad profile."""


class ReadinessError(KfpCtError):
    """The InferenceService did not become ready; the message says what status reported."""


class ModelLoadFailed(ReadinessError):
    """KServe reports that the model cannot load (it will not recover by waiting)."""


class ReadinessTimeout(ReadinessError):
    """The timeout passed before the InferenceService was ready."""
