"""Errors shared by the metric modules."""


class MetricUnavailableError(RuntimeError):
    """A metric cannot be computed in this environment (e.g. LPIPS without its offline backbone weights).

    Raised instead of returning a placeholder value. Validation (:meth:`HDRModel.compute_metrics`) catches it, warns
    once and skips the metric for the rest of the run; direct callers see the message, which names the fix.
    """
