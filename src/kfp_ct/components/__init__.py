"""KFP components: thin shims over `kfp_ct.steps`, all running in the project image.

Every module here has the same shape: one `@dsl.component(base_image=IMAGE,
install_kfp_package=False)` function whose body imports kfp_ct, turns artifacts into paths,
calls one step function and writes KFP outputs. No logic lives here.
"""

from kfp_ct.components.compare import compare
from kfp_ct.components.deploy import deploy
from kfp_ct.components.drift_check import drift_check
from kfp_ct.components.evaluate import evaluate
from kfp_ct.components.monitor import monitor
from kfp_ct.components.notify import notify
from kfp_ct.components.register import register
from kfp_ct.components.report import report
from kfp_ct.components.train import train
from kfp_ct.components.validate import validate

__all__ = [
    "compare",
    "deploy",
    "drift_check",
    "evaluate",
    "monitor",
    "notify",
    "register",
    "report",
    "train",
    "validate",
]
