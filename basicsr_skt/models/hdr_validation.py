"""``HDRValidationMixin``: float HDR validation of :class:`~basicsr_skt.models.hdr_model.HDRModel` in small steps.

What differs between sRGB and packed-RAW data (metric inputs, LDR frames, display images, saved visuals) is the
host's ``display`` strategy (:mod:`basicsr_skt.models.val_display`, chosen from the datasets' options); outputs scored
beside the ORM's (the SKT teacher's) are the host's ``side_outputs``, filled by its ``side_predictors``.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from tqdm import tqdm

from basicsr.metrics import calculate_metric
from basicsr.utils import get_root_logger
from basicsr_skt.metrics.metric_errors import MetricUnavailableError
from basicsr_skt.metrics.region_metric import metric_frame_inputs
from basicsr_skt.utils.figures import comparison_figure
from basicsr_skt.utils.paths import check_name
from basicsr_skt.utils.rng import preserved_rng_state
from basicsr_skt.utils.tonemap import mu_law

#: Column of the per-scene inference time in the metrics tables (seconds; not a metric, never "best").
TIME_COLUMN = 'time_s'


class HDRValidationMixin:
    """Validation of an HDR model on float arrays, never on 8-bit images (put before the ``BaseModel`` in the bases).

    The loop (:meth:`nondist_validation`) feeds each scene, calls the model's ``test`` (which sets ``output``,
    ``infer_seconds`` and ``side_outputs``: metric prefix -> (B, C, H, W) outputs scored beside the ORM's, e.g.
    ``teacher_``), then runs small steps: :meth:`compute_metrics` (with :meth:`metric_inputs` and
    :meth:`frame_inputs`), :meth:`save_visuals`, :meth:`save_figure`, :meth:`log_tb_images`,
    :meth:`write_metrics_files`, :meth:`metrics_table` (:meth:`table_columns`, :meth:`table_rows`) and
    :meth:`release_batch`. A metric that is unavailable (LPIPS without its weights) is skipped for the run with one
    warning. Validation leaves every global random generator as it found it. The host provides ``display`` (sRGB or
    RAW, :mod:`basicsr_skt.models.val_display`) and ``val_options``.

    ``val`` options (besides BasicSR's ``val_freq``, ``save_img``, ``suffix``, ``pbar``, ``metrics``): the host's
    ``val_options``, a :class:`~basicsr_skt.models.model_options.ValOptions` parsed once by the model's constructor
    (``mu``, ``pad_multiple``, ``tile``, ``tile_overlap``, ``save_exr``, ``figure_scenes``, ``num_tb_images``; the
    fields hold the defaults).

    Each scene's inference wall time (the network only, CUDA synchronised when on a GPU; the first scene includes
    one-off costs such as attention-mask caching) is recorded in ``scene_seconds`` and reported as ``time_s``.
    """

    def repeats_last_validation(self, current_iter: int) -> bool:
        """True for the validation BasicSR's training loop runs after its last iteration (at ``total_iter`` + 2) when
        the loop has already validated the same weights at ``total_iter`` (``val_freq`` divides it)."""
        if not self.opt.get('is_train') or 'train' not in self.opt or not self.opt.get('val'):
            return False
        total_iter = int(self.opt['train']['total_iter'])
        val_freq = int(self.opt['val'].get('val_freq') or 0)
        return current_iter > total_iter and val_freq > 0 and total_iter % val_freq == 0

    def validation(self, dataloader, current_iter: int, tb_logger, save_img: bool = False) -> None:
        """BasicSR's validation, leaving every global random generator as it found it (so that training draws, and
        thus results, do not depend on ``val_freq``, and a resumed run matches an uninterrupted one). The loop's
        validation after the last iteration is skipped when it would repeat the one at ``total_iter``
        (:meth:`repeats_last_validation`)."""
        if self.repeats_last_validation(current_iter):
            get_root_logger().info(f'Validation after the last iteration skipped: the same weights were validated '
                                   f'at iter {self.opt["train"]["total_iter"]}.')
            return
        with preserved_rng_state():
            super().validation(dataloader, current_iter, tb_logger, save_img)

    def dist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        if self.opt['rank'] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        self.scene_metrics: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        self.scene_seconds: 'OrderedDict[str, float]' = OrderedDict()
        self.skipped_metrics: Dict[str, str] = OrderedDict()
        num_tb_images = self.val_options.num_tb_images
        pbar = tqdm(total=len(dataloader), unit='scene') if self.opt['val'].get('pbar', False) else None
        for idx, val_data in enumerate(dataloader):
            scene = val_data['scene'][0]
            self.feed_data(val_data)
            self.test()
            self.scene_seconds[scene] = self.infer_seconds
            pred, gt = self.current_arrays()
            if gt is not None and metric_opts:
                self.scene_metrics[scene] = self.compute_metrics(pred, gt, metric_opts)
            if save_img:
                self.save_visuals(scene, pred, current_iter, dataset_name)
            if gt is not None and self.wants_figure(scene, idx):
                self.save_figure(scene, self.current_ldrs(), pred, gt, current_iter, dataset_name)
            if tb_logger is not None and idx < num_tb_images:
                self.log_tb_images(tb_logger, scene, pred, gt, current_iter)
            self.release_batch()
            if pbar is not None:
                pbar.update(1)
                pbar.set_description(f'Val {scene}')
        if pbar is not None:
            pbar.close()
        if self.scene_metrics:
            self.drop_skipped_metrics()
            self.metric_results = self.average_metrics(self.scene_metrics)
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def current_arrays(self) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """First item of the batch as float32 H×W×3 BGR arrays (prediction, GT or None)."""

        def to_array(t: torch.Tensor) -> np.ndarray:
            return t[0].detach().float().cpu().permute(1, 2, 0).numpy()

        return to_array(self.output), (to_array(self.gt) if hasattr(self, 'gt') else None)

    def current_ldrs(self) -> List[np.ndarray]:
        """The LDR frames of the first batch item for display, float32 H×W×3 BGR in [0, 1] (``display``'s)."""
        return self.display.ldr_frames(self.lq[0])

    def side_arrays(self) -> 'OrderedDict[str, np.ndarray]':
        """First batch item of every output scored beside the ORM's (e.g. live ORM, teacher, teacher with zeroed
        priors), float32 H×W×C, by metric prefix."""
        return OrderedDict((prefix, out[0].detach().float().cpu().permute(1, 2, 0).numpy())
                           for prefix, out in (getattr(self, 'side_outputs', None) or {}).items())

    def compute_metrics(self, pred: np.ndarray, gt: np.ndarray, metric_opts: Dict[str, Any]) -> Dict[str, float]:
        """The ORM's metrics (:meth:`output_metrics`), then ``<prefix><name>`` for each of :meth:`side_arrays`."""
        values = self.output_metrics(pred, gt, metric_opts)
        for prefix, array in self.side_arrays().items():
            for name, value in self.output_metrics(array, gt, metric_opts).items():
                values[f'{prefix}{name}'] = value
        return values

    def output_metrics(self, pred: np.ndarray, gt: np.ndarray, metric_opts: Dict[str, Any]) -> Dict[str, float]:
        """Every configured metric on float HDR arrays (``val.metrics.<name>.type`` from METRIC_REGISTRY).

        A metric that raises :class:`MetricUnavailableError` (LPIPS without its offline weights) is logged once as a
        warning, recorded in ``self.skipped_metrics`` and left out for the rest of the validation run.

        Args:
            pred: H×W×3 float32 linear HDR prediction, BGR.
            gt: H×W×3 float32 linear HDR ground truth, BGR.
            metric_opts: ``val.metrics``: name -> options with ``type``.

        Returns:
            name -> value for every configured metric that is available, in configuration order.
        """
        skipped = getattr(self, 'skipped_metrics', None)
        if skipped is None:
            skipped = self.skipped_metrics = OrderedDict()
        values: 'OrderedDict[str, float]' = OrderedDict()
        for name, metric_opt in metric_opts.items():
            if name in skipped:
                continue
            inputs = self.metric_inputs(pred, gt)
            wanted = metric_frame_inputs(metric_opt['type'])
            if wanted:  # region metrics: the scene's LDR frames and exposure times
                inputs.update((key, value) for key, value in self.frame_inputs().items() if key in wanted)
            try:
                values[name] = float(calculate_metric(inputs, metric_opt))
            except MetricUnavailableError as err:
                skipped[name] = str(err)
                get_root_logger().warning(f'Metric {name!r} skipped for this run: {err}')
        return values

    def metric_inputs(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """Keyword arguments of every metric function: ``img`` and ``img2``, plus per-scene data of the display
        strategy (the RAW colour metadata ``wb`` and ``ccm``)."""
        return self.display.metric_inputs(pred, gt)

    def frame_inputs(self) -> Dict[str, Any]:
        """``ldrs`` (the first batch item's LDR frames, H×W×3 float32 BGR) and ``exposures`` (its exposure times, or
        None when the dataset gives none) for metrics that declare them (:mod:`basicsr_skt.metrics.region_metric`)."""
        exposures = getattr(self, 'exposures', None)
        return dict(ldrs=self.current_ldrs(), exposures=None if exposures is None else exposures[0].numpy())

    def drop_skipped_metrics(self) -> None:
        """Remove metrics skipped part-way from the scenes computed before (every scene keeps the same columns)."""
        for values in self.scene_metrics.values():
            for name in getattr(self, 'skipped_metrics', {}):
                values.pop(name, None)

    @staticmethod
    def average_metrics(scene_metrics: Dict[str, Dict[str, float]]) -> 'OrderedDict[str, float]':
        """Per metric, the mean over the scenes (NaN values left out: a region metric is NaN for scenes without that
        region) that have it (a side output may be missing for a scene: the teacher's need priors); metrics in order
        of first appearance, the ORM's first."""
        names: List[str] = []
        for values in scene_metrics.values():
            names += [name for name in values if name not in names]
        if any(len(values) != len(names) for values in scene_metrics.values()):
            get_root_logger().warning(
                'Teacher metrics are missing for some validation scenes (no priors?): their means '
                'run over the scenes that have them')

        def mean(values: List[float]) -> float:
            defined = [v for v in values if not np.isnan(v)]
            return float(np.mean(defined)) if defined else float('nan')

        return OrderedDict((m, mean([v.get(m, float('nan')) for v in scene_metrics.values()])) for m in names)

    def _update_best_metric_result(self, dataset_name: str, metric: str, val: float, current_iter: int) -> None:
        """BasicSR's, with records created on the fly for the side outputs' metrics ``<prefix>_<name>`` (same
        ``better`` as the ORM's ``<name>``)."""
        record = self.best_metric_results[dataset_name]
        if metric not in record:
            base = metric.split('_', 1)[1]
            better = (self.opt['val'].get('metrics') or {}).get(base, {}).get('better', 'higher')
            record[metric] = dict(better=better, val=float('-inf') if better == 'higher' else float('inf'), iter=-1)
        super()._update_best_metric_result(dataset_name, metric, val, current_iter)

    def save_visuals(self, scene: str, pred: np.ndarray, current_iter: int, dataset_name: str) -> None:
        """Write the prediction below :meth:`visual_path` as the display strategy does (sRGB: ``.hdr``, optional
        ``.exr``, μ-law PNG; RAW: packed ``.npy`` and the protocol's 16-bit PNG)."""
        self.display.save_visuals(self.visual_path(scene, current_iter, dataset_name), pred, self.val_options)

    def wants_figure(self, scene: str, index: int) -> bool:
        """Whether ``val.figure_scenes`` (a list of scene names, or a count N: the first N scenes) selects a scene."""
        return self.val_options.wants_figure(scene, index)

    def save_figure(self, scene: str, ldrs: Sequence[np.ndarray], pred: np.ndarray, gt: np.ndarray, current_iter: int,
                    dataset_name: str) -> str:
        """Write ``<stem>_figure.png``: LDR frames, μ-law prediction and GT, error heat map, zoom on the worst crop.

        Args:
            scene: Scene name.
            ldrs: N float32 H×W×3 BGR LDR frames in [0, 1] (reference = middle).
            pred: The prediction (H×W×3 float32 linear HDR, BGR; packed RAW for RAW data: rendered by
                :meth:`display_image`).
            gt: The ground truth, like ``pred``.
            current_iter: Iteration (names the file in training).
            dataset_name: Dataset name (folder in test runs).

        Returns:
            The written path; the image size is ``figures.comparison_figure_size(N, H, W)``.
        """
        path = f'{self.visual_path(scene, current_iter, dataset_name)}_figure.png'
        os.makedirs(osp.dirname(path), exist_ok=True)
        figure = comparison_figure(ldrs, self.display_image(pred), self.display_image(gt), mu=self.val_options.mu)
        if not cv2.imwrite(path, figure):
            raise OSError(f'Cannot write figure {path}')
        return path

    def visual_path(self, scene: str, current_iter: int, dataset_name: str) -> str:
        """Path stem of a scene's saved outputs (BasicSR's layout: per scene in training, per dataset in test)."""
        root = self.opt['path']['visualization']
        check_name(scene, f'Scene name of dataset {dataset_name!r}')  # a name from data: never a path
        if self.opt['is_train']:
            return osp.join(root, scene, f'{scene}_{current_iter}')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(root, dataset_name, f'{scene}_{suffix}')

    def display_image(self, array: np.ndarray) -> np.ndarray:
        """A prediction-space array (H x W x C) as a linear BGR image for display (identity for sRGB ORMs)."""
        return self.display.display_image(array)

    def log_tb_images(self, tb_logger, scene: str, pred: np.ndarray, gt: Optional[np.ndarray], current_iter: int):
        """μ-law strip prediction | :meth:`side_arrays` | GT to tensorboard, RGB, CHW in [0, 1]."""
        mu = self.val_options.mu
        images = [pred] + list(self.side_arrays().values()) + ([] if gt is None else [gt])
        strip = np.concatenate([mu_law(np.clip(self.display_image(img), 0, 1), mu) for img in images], axis=1)
        tb_logger.add_image(f'val/{scene}', strip[..., ::-1].transpose(2, 0, 1).copy(), current_iter)

    def release_batch(self) -> None:
        """Drop the scene's tensors (frames, GT, outputs, priors) before the next one."""
        for name in ('lq', 'gt', 'output', 'exposures'):
            if hasattr(self, name):
                delattr(self, name)
        self.side_outputs = OrderedDict()
        self.skb_embedding = self.skb_labels = None
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def _log_validation_metric_values(self, current_iter: int, dataset_name: str, tb_logger) -> None:
        """Log a per-scene table (Markdown) with the mean row and best values; scalars go to tensorboard."""
        table = self.metrics_table(dataset_name)
        get_root_logger().info(f'Validation {dataset_name} @ iter {current_iter}\n{table}')
        if not self.opt['is_train']:
            self.write_metrics_files(dataset_name, table)
        if tb_logger:
            for metric, value in self.metric_results.items():
                tb_logger.add_scalar(f'metrics/{dataset_name}/{metric}', value, current_iter)

    def write_metrics_files(self, dataset_name: str, table: str) -> None:
        """Test runs: ``<results_root>/<dataset>_metrics.{md,csv}`` with the per-scene values, ``time_s`` and the
        mean row (CSV: 6 decimals, header ``scene,<metric names...>,time_s``)."""
        root = self.opt['path']['results_root']
        with open(osp.join(root, f'{dataset_name}_metrics.md'), 'w') as f:
            f.write(table + '\n')
        columns = self.table_columns()
        with open(osp.join(root, f'{dataset_name}_metrics.csv'), 'w') as f:
            f.write(','.join(['scene'] + columns) + '\n')
            for scene, values in self.table_rows():
                f.write(','.join([scene] + [f'{values[m]:.6f}' for m in columns]) + '\n')

    def table_columns(self) -> List[str]:
        """Metric names in configuration order, then ``time_s`` when scenes were timed."""
        timed = bool(getattr(self, 'scene_seconds', None))
        return list(self.metric_results) + ([TIME_COLUMN] if timed else [])

    def table_rows(self) -> List[Tuple[str, Dict[str, float]]]:
        """(scene, values) per scene and ``('mean', ...)`` last; values hold the metrics (NaN where a scene lacks a
        side output's metric) and, when timed, ``time_s`` (inference seconds; the mean row has the mean over the same
        scenes)."""
        seconds = getattr(self, 'scene_seconds', None) or {}
        names = list(self.metric_results)
        rows = [(scene, {m: values.get(m, float('nan'))
                         for m in names}) for scene, values in self.scene_metrics.items()]
        mean = dict(self.metric_results)
        if seconds:
            for scene, values in rows:
                values[TIME_COLUMN] = seconds[scene]
            mean[TIME_COLUMN] = float(np.mean([seconds[scene] for scene, _ in rows]))
        return rows + [('mean', mean)]

    def metrics_table(self, dataset_name: Optional[str] = None) -> str:
        """Markdown table: one row per scene, the mean, and (in training) the best mean so far with its iteration.

        Metrics have 4 decimals, ``time_s`` (inference seconds per scene, no "best") 3.
        """
        columns = self.table_columns()
        lines = ['| scene | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
        for scene, values in self.table_rows():
            cells = [f'{values[m]:.3f}' if m == TIME_COLUMN else f'{values[m]:.4f}' for m in columns]
            lines.append(f'| {"**mean**" if scene == "mean" else scene} | ' + ' | '.join(cells) + ' |')
        best = getattr(self, 'best_metric_results', {}).get(dataset_name) if self.opt['is_train'] else None
        if best:
            cells = ['-' if m == TIME_COLUMN else f'{best[m]["val"]:.4f} ({best[m]["iter"]})' for m in columns]
            lines.append('| best (iter) | ' + ' | '.join(cells) + ' |')
        return '\n'.join(lines)
