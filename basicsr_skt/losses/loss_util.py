"""Helpers shared by the losses, beside BasicSR's own ``basicsr.losses.loss_util`` (``weighted_loss``,
``weight_reduce_loss``). Not a ``*_loss.py`` module: it registers nothing."""

#: The ``reduction`` values every loss here accepts, as BasicSR's ``_reduction_modes``.
REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> None:
    """Raise ``ValueError`` (naming the supported modes) unless ``reduction`` is one of :data:`REDUCTIONS`."""
    if reduction not in REDUCTIONS:
        raise ValueError(f'Unsupported reduction mode: {reduction}. Supported ones are: {list(REDUCTIONS)}')
