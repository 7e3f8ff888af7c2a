"""``ResumableSampler``: BasicSR's ``EnlargedSampler`` whose resumed epoch continues where an interrupted run
stopped."""
from typing import Any, Dict, Iterator, Optional

from basicsr.data.data_sampler import EnlargedSampler
from basicsr.utils import get_root_logger
from basicsr_skt.utils.rng import restore_rng_state


class ResumableSampler(EnlargedSampler):
    """``EnlargedSampler`` (same shuffled, enlarged, rank-split indices) that can continue an interrupted epoch.

    BasicSR's loop restarts a resumed run's epoch from its first batch, with fresh random draws. After
    :meth:`resume_from`, the next pass over the resumed epoch (armed by the matching :meth:`set_epoch`, consumed by
    the next ``__iter__``) skips the batches the interrupted run already trained on, and the saved generator states are
    restored right before its first sample is read, i.e. after the data loader iterator has drawn its seed, exactly as
    in the uninterrupted run. Without :meth:`resume_from` it is an ``EnlargedSampler``.

    Args:
        dataset: The training dataset.
        num_replicas: Number of processes (``world_size``).
        rank: This process's rank.
        ratio: ``dataset_enlarge_ratio``.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, ratio: int = 1):
        super().__init__(dataset, num_replicas, rank, ratio)
        self.pending_resume: Optional[Dict[str, Any]] = None
        self.resume_armed = False

    def resume_from(self, epoch: int, current_iter: int, batch_size: int,
                    rng_state: Optional[Dict[str, Any]] = None) -> None:
        """Make the next pass over ``epoch`` continue an interrupted run.

        Epochs have a fixed number of batches (the training loader drops its last incomplete one), so the pass skips
        ``current_iter - epoch * batches_per_epoch`` batches.

        Args:
            epoch: Epoch of the saved state (BasicSR's ``resume_state['epoch']``).
            current_iter: Iterations done (``resume_state['iter']``).
            batch_size: Per-process batch size of the training loader.
            rng_state: Generator states saved with the training state
                (:func:`basicsr_skt.utils.rng.capture_rng_state`), or None.
        """
        self.pending_resume = dict(epoch=epoch, iter=current_iter, batch_size=batch_size, rng=rng_state)
        self.resume_armed = False

    def resume_from_state(self, resume_state: Dict[str, Any], batch_size: int) -> None:
        """:meth:`resume_from` with the ``epoch``, ``iter`` and ``rng`` of a BasicSR training state."""
        self.resume_from(resume_state['epoch'], resume_state['iter'], batch_size, resume_state.get('rng'))

    def set_epoch(self, epoch: int) -> None:
        """BasicSR's ``set_epoch``; arms a pending resume of this epoch."""
        super().set_epoch(epoch)
        self.resume_armed = self.pending_resume is not None and self.pending_resume['epoch'] == epoch

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        if not self.resume_armed:
            return iter(indices)
        pending, self.pending_resume, self.resume_armed = self.pending_resume, None, False
        batches_per_epoch = self.num_samples // pending['batch_size']
        done = pending['iter'] - pending['epoch'] * batches_per_epoch
        if not 0 <= done <= batches_per_epoch:
            get_root_logger().warning(
                f'Resume at iteration {pending["iter"]} (epoch {pending["epoch"]}) does not match {batches_per_epoch} '
                'batches per epoch (was the batch size or dataset changed?): the resumed epoch starts from its first '
                'batch and the run is not an exact continuation.')
            done = 0
        if pending['rng'] is not None:
            restore_rng_state(pending['rng'])
        return iter(indices[done * pending['batch_size']:])
