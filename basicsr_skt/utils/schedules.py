"""Iteration-dependent scalars of SKT training: the SKAM mask ratio and the distillation-weight warm-up.

Pure functions of the iteration number (BasicSR's ``current_iter``, which starts at 1); they return Python floats.
"""

MASK_RATIO_MODES = ('linear', 'constant')


def linear_ramp(iteration: int, start_iter: int, ramp_iters: int, max_value: float) -> float:
    """0 before ``start_iter``, then linear up to ``max_value`` over ``ramp_iters`` iterations, then ``max_value``.

    ``value = max_value * clip((iteration - start_iter) / ramp_iters, 0, 1)``; with ``ramp_iters = 0`` it is a step:
    0 before ``start_iter`` and ``max_value`` from ``start_iter`` on.

    Args:
        iteration: Current iteration.
        start_iter: Iteration at which the ramp starts (value 0 there when ``ramp_iters > 0``).
        ramp_iters: Length of the ramp (>= 0); ``max_value`` is reached at ``start_iter + ramp_iters``.
        max_value: Final value.

    Returns:
        The scheduled value.
    """
    if ramp_iters < 0:
        raise ValueError(f'ramp_iters must be >= 0, got {ramp_iters}')
    if iteration < start_iter:
        return 0.0
    if ramp_iters == 0:
        return float(max_value)
    return float(max_value) * min(1.0, (iteration - start_iter) / ramp_iters)


def mask_ratio_schedule(iteration: int,
                        total_iter: int,
                        max_ratio: float = 0.5,
                        mode: str = 'linear',
                        ramp_fraction: float = 0.5,
                        start_iter: int = 0,
                        min_ratio: float = 0.0) -> float:
    """Progressive SKAM mask ratio r(iteration) over the distillation period ``[start_iter, total_iter]``.

    ``'linear'``: r is ``min_ratio`` up to ``start_iter`` (the end of the distillation warm-up; SKAM is off before
    it), rises linearly to ``max_ratio`` over ``ramp_fraction * (total_iter - start_iter)`` iterations and then holds;
    ``'constant'``: r = ``max_ratio`` throughout. With ``start_iter = 0`` and ``min_ratio = 0`` this is the first
    implementation's ramp from iteration 0.

    Args:
        iteration: Current iteration.
        total_iter: Length of training (BasicSR's ``train.total_iter``).
        max_ratio: r_max, in [0, 1].
        mode: ``'linear'`` or ``'constant'``.
        ramp_fraction: Fraction of the distillation period over which the linear ramp runs, in [0, 1].
        start_iter: First iteration of the distillation period (``skt.distill_warmup_iter``), >= 0.
        min_ratio: r at the start of the ramp, in [0, max_ratio].

    Returns:
        The mask ratio in [min_ratio, max_ratio].
    """
    if mode not in MASK_RATIO_MODES:
        raise ValueError(f'Unknown mask ratio mode {mode!r}; expected one of {MASK_RATIO_MODES}')
    if not 0.0 <= max_ratio <= 1.0:
        raise ValueError(f'max_ratio must be in [0, 1], got {max_ratio}')
    if not 0.0 <= min_ratio <= max_ratio:
        raise ValueError(f'min_ratio must be in [0, max_ratio={max_ratio}], got {min_ratio}')
    if not 0.0 <= ramp_fraction <= 1.0:
        raise ValueError(f'ramp_fraction must be in [0, 1], got {ramp_fraction}')
    if mode == 'constant':
        return float(max_ratio)
    if iteration < start_iter:
        return float(min_ratio)
    ramp_iters = int(round(ramp_fraction * max(0, total_iter - start_iter)))
    return float(min_ratio) + linear_ramp(iteration, start_iter, ramp_iters, max_ratio - min_ratio)


def distill_weight(iteration: int, weight: float, warmup_iter: int = 0, ramp_iter: int = 0) -> float:
    """Weight of a distillation term: 0 before ``warmup_iter``, then a linear ramp to ``weight`` over ``ramp_iter``.

    With ``ramp_iter = 0`` the full weight applies from ``warmup_iter`` on (a step); otherwise it is 0 at
    ``warmup_iter`` and ``weight`` from ``warmup_iter + ramp_iter`` on.

    Args:
        iteration: Current iteration.
        weight: Final weight (e.g. λ_content = 0.5).
        warmup_iter: Iterations during which the term is off (the teacher learns first).
        ramp_iter: Length of the linear ramp after the warm-up (>= 0).

    Returns:
        The weight to multiply the loss with.
    """
    return linear_ramp(iteration, warmup_iter, ramp_iter, weight)
